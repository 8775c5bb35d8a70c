"""The Asset catalog: desired objects, their diff with existing ones, the graph rebuilt from them, and the
materialization state of each asset."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest

from kubeasset.api import Asset, AssetState, AssetStatus, Materialization
from kubeasset.api.asset import AssetFailure
from kubeasset.api.asset import AssetSpec as AssetObjectSpec
from kubeasset.api.conditions import MATERIALIZED, ConditionStatus, find_condition
from kubeasset.errors import InvalidManifestError, UnknownDependencyError
from kubeasset.graph import AssetGraph, AssetKey, AssetSpec
from kubeasset.reconcile import catalog
from kubeasset.reconcile.catalog import (
    CatalogMemo,
    apply_materialization,
    asset_state,
    desired_assets,
    diff_catalog,
    graph_from_assets,
    initial_asset_status,
    refresh_asset_status,
)
from kubeasset.reconcile.naming import CODE_LOCATION_LABEL, GROUP_LABEL
from kubeasset.reconcile.plan_items import ObjectId
from tests.unit.reconcile.location_builders import (
    LOCATION_UID,
    NOW,
    as_assets,
    make_location,
    shop_graph,
    spec,
    wide_graph,
)

# --- desired_assets -------------------------------------------------------------------------------------


def test_desired_assets_mirror_the_definitions_in_topological_order() -> None:
    manifests = desired_assets(make_location(), shop_graph())
    assert [m["spec"]["key"] for m in manifests] == [k.to_user_string() for k in shop_graph().topological_order]
    orders = next(m for m in manifests if m["spec"]["key"] == "orders")
    assert orders["apiVersion"] == "kubeasset.dev/v1alpha1" and orders["kind"] == "Asset"
    assert orders["metadata"]["name"] == "shop.orders"
    assert orders["metadata"]["namespace"] == "data"
    assert orders["metadata"]["labels"][CODE_LOCATION_LABEL] == "shop"
    assert orders["metadata"]["labels"][GROUP_LABEL] == "sales"
    assert orders["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "kubeasset.dev/v1alpha1",
            "kind": "CodeLocation",
            "name": "shop",
            "uid": LOCATION_UID,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert orders["spec"] == {
        "key": "orders",
        "codeLocation": "shop",
        "deps": ["raw/orders"],
        "group": "sales",
        "description": "Sorted orders.",
        "codeVersion": "2",
    }
    assert "status" not in orders


def test_desired_assets_cut_long_descriptions() -> None:
    graph = AssetGraph([spec("orders", description="x" * 5000)])
    (manifest,) = desired_assets(make_location(), graph)
    assert len(manifest["spec"]["description"]) == 4096 and manifest["spec"]["description"].endswith("…")


def test_desired_assets_refuse_a_definition_an_asset_object_cannot_hold() -> None:
    deps = [f"d{i}" for i in range(1001)]
    graph = AssetGraph([spec(dep) for dep in deps] + [spec("wide", deps)])
    with pytest.raises(InvalidManifestError, match=r"asset wide cannot be stored in the catalog: deps"):
        desired_assets(make_location(), graph)


def test_desired_manifests_are_what_the_asset_model_writes() -> None:
    # The manifests are built as plain dicts (fast); the model (whence the CRD schema) must agree.
    graph = AssetGraph(
        [
            *shop_graph().specs.values(),
            AssetSpec(
                key=AssetKey.from_user_string("reports/Weekly_KPIs"),
                deps=(AssetKey.from_user_string("revenue"),),
                group_name="finance",
                tags={"tier": "gold", "kubeasset.dev/team": "fin"},
                owners=("ana@example.com", "team:finance"),
                kinds=frozenset({"table", "python"}),
                description="d" * 5000,
                code_version="7",
            ),
        ]
    )
    for location in (make_location(), make_location("other", uid="u2")):
        for manifest in desired_assets(location, graph):
            assert Asset.model_validate(manifest).to_json() == manifest


def test_an_invalid_definition_is_named_even_among_thousands() -> None:
    graph = AssetGraph([*wide_graph(2_000).specs.values(), spec("odd", group="bad group")])
    with pytest.raises(InvalidManifestError, match=r"^asset odd cannot be stored in the catalog: group: String"):
        desired_assets(make_location(), graph)


# --- diff_catalog ---------------------------------------------------------------------------------------


def test_diff_against_an_empty_catalog_creates_everything() -> None:
    desired = desired_assets(make_location(), shop_graph())
    changes = diff_catalog(desired, [])
    assert [m["metadata"]["name"] for m in changes.create] == [m["metadata"]["name"] for m in desired]
    assert changes.update == () and changes.delete == ()


def test_diff_of_an_up_to_date_catalog_is_empty() -> None:
    desired = desired_assets(make_location(), shop_graph())
    assert not diff_catalog(desired, as_assets(desired))


def test_diff_updates_changed_specs_and_deletes_removed_assets() -> None:
    existing = as_assets(desired_assets(make_location(), shop_graph()))
    graph = AssetGraph(
        [
            spec("raw/orders", group="raw", code_version="2"),  # code version changed
            spec("raw/customers", group="raw"),
            spec("orders", ["raw/orders"], group="sales", code_version="2", description="Sorted orders."),
            spec("revenue", ["orders"], group="finance", tags={"tier": "gold"}),  # group changed
            spec("margins", ["revenue"]),  # new
        ]
    )
    changes = diff_catalog(desired_assets(make_location(), graph), existing)
    assert [m["metadata"]["name"] for m in changes.create] == ["shop.margins"]
    assert sorted(m["metadata"]["name"] for m in changes.update) == ["shop.raw.orders", "shop.revenue"]
    uid_of = {asset.metadata.name: asset.metadata.uid for asset in existing}
    assert changes.delete == (ObjectId("shop.customers", uid_of["shop.customers"]),)


def test_diff_ignores_labels_people_added_but_restores_kubeassets() -> None:
    desired = desired_assets(make_location(), shop_graph())
    existing = as_assets(desired)
    existing[0].metadata.labels = {**(existing[0].metadata.labels or {}), "team": "sales"}
    assert not diff_catalog(desired, existing)
    existing[1].metadata.labels = {**(existing[1].metadata.labels or {}), GROUP_LABEL: "moved"}
    assert [m["metadata"]["name"] for m in diff_catalog(desired, existing).update] == [existing[1].metadata.name]


def test_diff_adopts_assets_of_a_recreated_location() -> None:
    old = as_assets(desired_assets(make_location(uid="old-uid"), shop_graph()))
    changes = diff_catalog(desired_assets(make_location(uid="new-uid"), shop_graph()), old)
    assert len(changes.update) == len(old)
    assert all(m["metadata"]["ownerReferences"][0]["uid"] == "new-uid" for m in changes.update)


# --- CatalogMemo ----------------------------------------------------------------------------------------


def stored(manifests: list[dict[str, Any]], version: int = 1) -> list[Asset]:
    """Manifests as the API server stores them: with uids, resource versions and a generation."""
    return [
        Asset.model_validate(
            {
                **manifest,
                "metadata": {
                    **manifest["metadata"],
                    "uid": f"uid-{manifest['metadata']['name']}",
                    "resourceVersion": str(version * 1000 + index),
                    "generation": 1,
                },
            }
        )
        for index, manifest in enumerate(manifests)
    ]


def test_a_memo_plans_as_a_full_diff_does() -> None:
    location, graph = make_location(), shop_graph()
    memo = CatalogMemo()
    desired = desired_assets(location, graph)
    in_sync = stored(desired)
    edited = stored(desired, version=2)
    edited[0].spec.code_version = "edited"
    changed_graph = AssetGraph([spec("raw/orders", group="raw", code_version="9"), spec("margins", ["raw/orders"])])
    cases: list[tuple[AssetGraph, str, list[Asset]]] = [
        (graph, "h1", []),  # first discovery
        (graph, "h1", in_sync),  # written
        (graph, "h1", in_sync),  # nothing changed
        (graph, "h1", edited),  # someone edited a spec
        (graph, "h1", in_sync[1:]),  # someone deleted one
        (graph, "h1", [*in_sync, *stored(desired_assets(location, AssetGraph([spec("extra")])), 3)]),  # added one
        (changed_graph, "h2", in_sync),  # a new graph
        (graph, "h1", in_sync),  # and back
    ]
    for case_graph, digest, existing in cases:
        expected = diff_catalog(desired_assets(location, case_graph), existing)
        assert memo.changes(location, case_graph, digest, existing) == expected


def test_a_memo_answers_an_in_sync_catalog_without_building_manifests(monkeypatch: pytest.MonkeyPatch) -> None:
    location, graph = make_location(), wide_graph(500)
    memo = CatalogMemo()
    existing = stored(desired_assets(location, graph))
    assert not memo.changes(location, graph, "h1", existing)

    def rebuilt(*_: Any) -> list[dict[str, Any]]:
        raise AssertionError("the desired catalog was built again")

    monkeypatch.setattr(catalog, "desired_assets", rebuilt)
    assert not memo.changes(location, graph, "h1", existing)
    with pytest.raises(AssertionError):  # another version of one object: planned in full
        memo.changes(location, graph, "h1", [*existing[1:], stored([existing[0].to_json()], version=9)[0]])
    with pytest.raises(AssertionError):  # another graph
        memo.changes(location, graph, "h2", existing)
    with pytest.raises(AssertionError):  # the location re-created under the same name
        memo.changes(make_location(uid="new"), graph, "h1", existing)


def test_a_memo_learns_the_controllers_own_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    location, graph = make_location(), shop_graph()
    memo = CatalogMemo()

    def rebuilt(*_: Any) -> list[dict[str, Any]]:
        raise AssertionError("the desired catalog was built again")

    changes = memo.changes(location, graph, "h1", [])
    created = stored(list(changes.create))
    for manifest, asset in zip(changes.create, created, strict=True):
        memo.written(manifest, asset.to_json())
    statuses = stored(list(changes.create), version=2)
    for before, after in zip(created, statuses, strict=True):
        memo.status_written(before.metadata.resource_version, after.to_json())
    with monkeypatch.context() as patched:  # the catalog as written: answered from memory
        patched.setattr(catalog, "desired_assets", rebuilt)
        assert not memo.changes(location, graph, "h1", statuses)

    # A create that found someone else's version in place is not taken as in sync.
    other = stored(list(changes.create), version=3)
    other[0].spec.description = "someone else's"
    memo.written(changes.create[0], other[0].to_json())
    replanned = memo.changes(location, graph, "h1", [other[0], *statuses[1:]])
    assert [m["metadata"]["name"] for m in replanned.update] == [other[0].metadata.name]
    # Written over by the controller: in sync again.
    memo.written(changes.create[0], statuses[0].to_json())
    with monkeypatch.context() as patched:
        patched.setattr(catalog, "desired_assets", rebuilt)
        assert not memo.changes(location, graph, "h1", statuses)


def test_a_memo_knows_the_generations_the_controller_wrote() -> None:
    memo = CatalogMemo()
    manifest = desired_assets(make_location(), shop_graph())[0]
    body = {**manifest, "metadata": {**manifest["metadata"], "uid": "u1", "generation": 2, "resourceVersion": "7"}}
    memo.written(manifest, body)
    assert memo.wrote("u1", 2)
    assert not memo.wrote("u1", 3) and not memo.wrote("u2", 2) and not memo.wrote("u1", None)
    memo.forget("u1")
    assert not memo.wrote("u1", 2)


# --- graph_from_assets ----------------------------------------------------------------------------------


def test_graph_from_assets_is_the_discovered_graph() -> None:
    graph = shop_graph()
    rebuilt = graph_from_assets(as_assets(desired_assets(make_location(), graph)), "shop")
    assert rebuilt.code_location == "shop"
    assert rebuilt.topological_order == graph.topological_order
    assert dict(rebuilt.specs) == dict(graph.specs)


def test_graph_from_assets_keeps_only_the_locations_live_assets() -> None:
    mine = as_assets(desired_assets(make_location(), AssetGraph([spec("a"), spec("b", ["a"])])))
    theirs = as_assets(desired_assets(make_location("other", uid="u2"), AssetGraph([spec("c")])))
    going = as_assets(desired_assets(make_location(), AssetGraph([spec("gone")])))
    going[0].metadata.deletion_timestamp = NOW
    graph = graph_from_assets([*mine, *theirs, *going], "shop")
    assert graph.keys == {AssetKey("a"), AssetKey("b")}


def test_graph_from_an_incomplete_catalog_raises() -> None:
    assets = as_assets(desired_assets(make_location(), AssetGraph([spec("a"), spec("b", ["a"])])))
    with pytest.raises(UnknownDependencyError, match="depends on a"):
        graph_from_assets(assets[1:], "shop")


def test_graph_from_ten_thousand_assets() -> None:
    graph = wide_graph(10_000)
    manifests = desired_assets(make_location(), graph)
    assets = as_assets(manifests)
    started = time.perf_counter()
    rebuilt = graph_from_assets(assets, "shop")
    elapsed = time.perf_counter() - started
    print(f"graph_from_assets, 10,000 assets: {elapsed * 1000:.0f} ms")
    assert rebuilt.topological_order == graph.topological_order


# --- materializations and states ------------------------------------------------------------------------


def materialization(run: str, minutes: int, code_version: str | None = "1") -> Materialization:
    return Materialization(run_name=run, time=NOW + timedelta(minutes=minutes), code_version=code_version)


def failure(run: str, minutes: int, message: str | None = "ValueError: boom") -> AssetFailure:
    return AssetFailure(run_name=run, time=NOW + timedelta(minutes=minutes), message=message)


def test_a_materialization_becomes_the_last_one_and_clears_a_failure() -> None:
    status = apply_materialization(None, failure("r1", 0), NOW)
    status = apply_materialization(status, materialization("r2", 5), NOW)
    assert status.state == AssetState.MATERIALIZED
    assert status.last_materialization == materialization("r2", 5)
    assert status.last_failure is None
    condition = find_condition(status.conditions, MATERIALIZED)
    assert condition is not None and condition.status == ConditionStatus.TRUE and "r2" in condition.message


def test_a_failure_keeps_the_last_materialization() -> None:
    status = apply_materialization(None, materialization("r1", 0), NOW)
    status = apply_materialization(status, failure("r2", 5), NOW)
    assert status.state == AssetState.FAILED
    assert status.last_materialization == materialization("r1", 0)
    assert status.last_failure == failure("r2", 5)
    condition = find_condition(status.conditions, MATERIALIZED)
    assert condition is not None and condition.status == ConditionStatus.FALSE
    assert condition.message == "failed in run r2: ValueError: boom"


@pytest.mark.parametrize("older", [materialization("r0", -10), failure("r0", -10)])
def test_an_older_outcome_never_regresses_the_status(older: Materialization | AssetFailure) -> None:
    status = apply_materialization(None, materialization("r1", 0), NOW)
    assert apply_materialization(status, older, NOW + timedelta(hours=1)) == status


def test_applying_the_same_materialization_twice_changes_nothing() -> None:
    once = apply_materialization(None, materialization("r1", 0), NOW)
    assert apply_materialization(once, materialization("r1", 0), NOW + timedelta(hours=1)) == once


def status_of(*outcomes: Materialization | AssetFailure) -> AssetStatus:
    status = AssetStatus()
    for outcome in outcomes:
        status = apply_materialization(status, outcome, NOW)
    return status


ASSET = AssetObjectSpec(key="orders", code_location="shop", code_version="1")


@pytest.mark.parametrize(
    ("status", "upstreams", "expected"),
    [
        (None, [], AssetState.MISSING),
        (AssetStatus(), [status_of(materialization("u", 0))], AssetState.MISSING),
        (status_of(failure("r1", 0)), [], AssetState.FAILED),
        (status_of(materialization("r1", 0)), [], AssetState.MATERIALIZED),
        (status_of(materialization("r1", 0), failure("r2", 5)), [], AssetState.FAILED),
        (status_of(failure("r1", 0), materialization("r2", 5)), [], AssetState.MATERIALIZED),
        (status_of(materialization("r1", 0, code_version="0")), [], AssetState.STALE),
        (status_of(materialization("r1", 0, code_version=None)), [], AssetState.STALE),
        (status_of(materialization("r1", 0)), [status_of(materialization("u", 5))], AssetState.STALE),
        (status_of(materialization("r1", 5)), [status_of(materialization("u", 0))], AssetState.MATERIALIZED),
        (
            status_of(materialization("r1", 5)),
            [None, AssetStatus(), status_of(failure("u", 9))],
            AssetState.MATERIALIZED,
        ),
    ],
    ids=[
        "never",
        "never-upstream-materialized",
        "failed",
        "materialized",
        "failed-after-materialized",
        "materialized-after-failed",
        "other-code-version",
        "code-version-added",
        "upstream-newer",
        "upstream-older",
        "upstream-missing-or-failed",
    ],
)
def test_asset_state(status: AssetStatus | None, upstreams: list[AssetStatus | None], expected: AssetState) -> None:
    assert asset_state(ASSET, status, upstreams) == expected


def test_refresh_asset_status_marks_a_new_code_version_stale() -> None:
    status = status_of(materialization("r1", 0, code_version="1"))
    changed = ASSET.model_copy(update={"code_version": "2"})
    refreshed = refresh_asset_status(changed, status, [], generation=2, now=NOW)
    assert refreshed.state == AssetState.STALE
    assert refreshed.observed_generation == 2
    assert refreshed.last_materialization == status.last_materialization
    condition = find_condition(refreshed.conditions, MATERIALIZED)
    assert condition is not None and (condition.status, condition.reason) == (ConditionStatus.FALSE, "Stale")
    assert condition.observed_generation == 2
    assert refresh_asset_status(changed, refreshed, [], generation=2, now=NOW + timedelta(hours=1)) == refreshed


def test_the_initial_status_is_the_refreshed_status_of_a_new_asset() -> None:
    for generation in (1, 4, None):
        assert initial_asset_status(generation, NOW) == refresh_asset_status(
            ASSET, None, [status_of(materialization("r1", 0))], generation=generation, now=NOW
        )


def test_refresh_asset_status_of_a_new_asset_is_missing() -> None:
    refreshed = refresh_asset_status(ASSET, None, [], generation=1, now=NOW)
    assert refreshed.state == AssetState.MISSING
    assert (
        Asset.model_validate(
            {"metadata": {"name": "shop.orders"}, "spec": ASSET.to_json(), "status": refreshed.to_json()}
        ).status
        == refreshed
    )

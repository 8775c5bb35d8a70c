"""The Asset catalog: desired objects, their diff with existing ones, the graph rebuilt from them, and the
materialization state of each asset."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from kubeasset.api import Asset, AssetState, AssetStatus, Materialization
from kubeasset.api.asset import AssetFailure
from kubeasset.api.asset import AssetSpec as AssetObjectSpec
from kubeasset.api.conditions import MATERIALIZED, ConditionStatus, find_condition
from kubeasset.errors import InvalidManifestError, UnknownDependencyError
from kubeasset.graph import AssetGraph, AssetKey
from kubeasset.reconcile.catalog import (
    apply_materialization,
    asset_state,
    desired_assets,
    diff_catalog,
    graph_from_assets,
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


def test_refresh_asset_status_of_a_new_asset_is_missing() -> None:
    refreshed = refresh_asset_status(ASSET, None, [], generation=1, now=NOW)
    assert refreshed.state == AssetState.MISSING
    assert (
        Asset.model_validate(
            {"metadata": {"name": "shop.orders"}, "spec": ASSET.to_json(), "status": refreshed.to_json()}
        ).status
        == refreshed
    )

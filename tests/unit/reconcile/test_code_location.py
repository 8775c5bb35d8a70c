"""plan_code_location: discovery Pods, the CodeLocation's status and Events, and the catalog changes."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from kubeasset.api import CodeLocation
from kubeasset.api.conditions import READY, find_condition
from kubeasset.graph import AssetGraph
from kubeasset.reconcile.catalog import CatalogMemo, desired_assets
from kubeasset.reconcile.code_location import (
    DISCOVERED,
    DISCOVERING,
    IMAGE_PULL_FAILED,
    POD_START_FAILED,
    CodeLocationPlan,
    DiscoveryObservation,
    plan_code_location,
)
from kubeasset.reconcile.discovery import DiscoveryDefaults
from kubeasset.reconcile.discovery_result import (
    DISCOVERY_FAILED,
    IMPORT_ERROR,
    INVALID_DEFINITIONS,
    INVALID_GRAPH,
    DiscoveredJob,
    DiscoveryResult,
    failed,
)
from kubeasset.reconcile.naming import discovery_pod_name
from kubeasset.reconcile.plan_items import EventType, ObjectId
from kubeasset.reconcile.pod_outcome import PodOutcome, PodOutcomeKind
from kubeasset.sdk.runner_protocol import graph_hash
from tests.unit.reconcile.location_builders import NOW, as_assets, make_location, shop_graph, spec, wide_graph

DEFAULTS = DiscoveryDefaults()
POD = discovery_pod_name(make_location(), NOW)
FINISHED = NOW - timedelta(seconds=5)


def pod(kind: PodOutcomeKind, reason: str = "", message: str = "", *, final: bool = False, **extra: Any) -> PodOutcome:
    return PodOutcome(
        kind=kind,
        reason=reason or kind.value,
        message=message or f"Pod {POD} {kind.value}",
        pod_name=POD,
        final=final,
        **extra,
    )


def succeeded(**extra: Any) -> PodOutcome:
    return pod(
        PodOutcomeKind.SUCCEEDED,
        "Completed",
        exit_code=0,
        finished_at=FINISHED,
        image_id="sha256:abc",
        final=True,
        **extra,
    )


def result_of(graph: AssetGraph, jobs: tuple[DiscoveredJob, ...] = ()) -> DiscoveryResult:
    digest = graph_hash([graph.specs[key].to_dict() for key in graph.topological_order])
    return DiscoveryResult(graph=graph, jobs=jobs, graph_hash=digest, module="shop")


def ready(location: CodeLocation | CodeLocationPlan) -> tuple[str, str, str]:
    status = location.status
    assert status is not None
    condition = find_condition(status.conditions, READY)
    assert condition is not None
    return condition.status.value, condition.reason, condition.message


def applied(location: CodeLocation, plan: CodeLocationPlan) -> CodeLocation:
    """The location after the controller wrote the plan's status."""
    return location.model_copy(update={"status": plan.status})


def discovered_location(graph: AssetGraph | None = None, **location: Any) -> tuple[CodeLocation, CodeLocationPlan]:
    """A location whose discovery succeeded (status written), and that plan."""
    base = make_location(**location)
    plan = plan_code_location(base, DiscoveryObservation(pod=succeeded(), result=result_of(graph or shop_graph())), NOW)
    return applied(base, plan), plan


# --- starting and waiting -------------------------------------------------------------------------------


def test_first_reconcile_creates_the_discovery_pod() -> None:
    plan = plan_code_location(make_location(), DiscoveryObservation(), NOW)
    (created,) = plan.create
    assert created["kind"] == "Pod" and created["metadata"]["name"] == POD
    assert ready(plan)[:2] == ("Unknown", DISCOVERING)
    assert plan.requeue_after == DEFAULTS.poll_seconds
    assert [(e.type, e.reason) for e in plan.events] == [(EventType.NORMAL, DISCOVERING)]
    assert not plan.catalog and plan.delete == ()


def test_planning_twice_gives_the_same_plan() -> None:
    location, observed = make_location(), DiscoveryObservation()
    assert plan_code_location(location, observed, NOW) == plan_code_location(location, observed, NOW)


@pytest.mark.parametrize("kind", [PodOutcomeKind.PENDING, PodOutcomeKind.RUNNING, PodOutcomeKind.TERMINATING])
def test_a_running_discovery_is_waited_for(kind: PodOutcomeKind) -> None:
    plan = plan_code_location(make_location(), DiscoveryObservation(pod=pod(kind)), NOW)
    assert plan.create == () and plan.delete == ()
    assert ready(plan)[:2] == ("Unknown", DISCOVERING)
    assert plan.requeue_after == DEFAULTS.poll_seconds


def test_a_refresh_in_progress_keeps_the_status_as_it_is() -> None:
    location, _ = discovered_location()
    changed = location.model_copy(update={"spec": location.spec.model_copy(update={"image": "shop:2"})})
    for observed in (DiscoveryObservation(), DiscoveryObservation(pod=pod(PodOutcomeKind.RUNNING))):
        plan = plan_code_location(changed, observed, NOW)
        assert plan.status == location.status and plan.events == ()


def test_stale_discovery_pods_are_deleted() -> None:
    others = [ObjectId("shop-discovery-00000000", "u0"), ObjectId(POD, "u1")]
    plan = plan_code_location(
        make_location(), DiscoveryObservation(pod=pod(PodOutcomeKind.RUNNING), other_pods=others), NOW
    )
    assert plan.delete == (ObjectId("shop-discovery-00000000", "u0"),)


# --- success --------------------------------------------------------------------------------------------


def test_a_successful_discovery_records_the_graph_and_creates_the_catalog() -> None:
    location = make_location(generation=3)
    jobs = (DiscoveredJob(name="daily_sales", selection="group:sales", description="Daily."),)
    result = result_of(shop_graph(), jobs)
    plan = plan_code_location(location, DiscoveryObservation(pod=succeeded(), result=result), NOW)
    status = plan.status
    assert status.observed_generation == 3
    assert status.assets is not None
    assert (status.assets.count, status.assets.groups, status.assets.graph_hash) == (
        5,
        ["raw", "sales"],
        result.graph_hash,
    )
    assert [job.to_json() for job in status.jobs or []] == [
        {"name": "daily_sales", "selection": "group:sales", "description": "Daily."}
    ]
    assert status.last_discovery_time == FINISHED and status.image_id == "sha256:abc"
    assert ready(plan) == (
        "True",
        DISCOVERED,
        f"5 assets in 2 groups, 1 job defined in code (graph {result.graph_hash})",
    )
    condition = find_condition(status.conditions, READY)
    assert condition is not None and condition.observed_generation == 3
    assert [m["metadata"]["name"] for m in plan.catalog.create] == [
        m["metadata"]["name"] for m in desired_assets(location, shop_graph())
    ]
    assert [(e.type, e.reason) for e in plan.events] == [(EventType.NORMAL, DISCOVERED)]
    assert plan.create == () and plan.delete == () and plan.requeue_after is None


def test_a_recorded_discovery_plans_nothing() -> None:
    location, first = discovered_location()
    observed = DiscoveryObservation(
        pod=succeeded(), result=result_of(shop_graph()), assets=as_assets(first.catalog.create)
    )
    plan = plan_code_location(location, observed, NOW + timedelta(minutes=5))
    assert plan.status == location.status
    assert plan.events == () and not plan.catalog and plan.create == () and plan.delete == ()
    # The Asset objects are that graph's catalog: jobs may use the discovered graph instead of a rebuilt one.
    assert observed.result is not None and plan.catalog_graph is observed.result.graph


def test_only_a_catalog_in_sync_offers_the_discovered_graph() -> None:
    location, first = discovered_location()
    assert first.catalog and first.catalog_graph is None  # the Asset objects are still to be created
    edited = as_assets(first.catalog.create)
    edited[0] = edited[0].model_copy(update={"spec": edited[0].spec.model_copy(update={"group": "edited"})})
    observed = DiscoveryObservation(pod=succeeded(), result=result_of(shop_graph()), assets=edited)

    plan = plan_code_location(location, observed, NOW)

    assert len(plan.catalog.update) == 1 and plan.catalog_graph is None


def test_a_changed_graph_updates_the_catalog_and_says_so() -> None:
    location, first = discovered_location()
    graph = AssetGraph([spec("raw/orders", group="raw", code_version="9"), spec("margins", ["raw/orders"])])
    observed = DiscoveryObservation(pod=succeeded(), result=result_of(graph), assets=as_assets(first.catalog.create))
    plan = plan_code_location(location, observed, NOW)
    assert [m["metadata"]["name"] for m in plan.catalog.create] == ["shop.margins"]
    assert [m["metadata"]["name"] for m in plan.catalog.update] == ["shop.raw.orders"]
    assert len(plan.catalog.delete) == 4
    assert [e.reason for e in plan.events] == [DISCOVERED, "GraphChanged"]
    assert "1 assets added, 1 changed, 4 removed" in plan.events[1].message


def test_the_status_of_ten_thousand_assets_stays_small() -> None:
    location = make_location()
    groups_graph = wide_graph(10_000)
    plan = plan_code_location(location, DiscoveryObservation(pod=succeeded(), result=result_of(groups_graph)), NOW)
    size = len(json.dumps(plan.status.to_json()))
    print(f"CodeLocation status with 10,000 assets: {size} bytes")
    assert plan.status.assets is not None and plan.status.assets.count == 10_000
    assert size < 10_000  # a summary: 100 group names, a hash, a condition
    assert len(plan.catalog.create) == 10_000


def test_a_catalog_memo_changes_no_plan() -> None:
    location, first = discovered_location()
    memo = CatalogMemo()
    changed = AssetGraph([spec("raw/orders", group="raw", code_version="9"), spec("margins", ["raw/orders"])])
    existing = as_assets(first.catalog.create)
    for graph, assets in ((shop_graph(), []), (shop_graph(), existing), (shop_graph(), existing), (changed, existing)):
        observed = DiscoveryObservation(pod=succeeded(), result=result_of(graph), assets=assets)
        assert plan_code_location(location, observed, NOW, catalog_memo=memo) == plan_code_location(
            location, observed, NOW
        )
    deps = [f"d{i}" for i in range(1001)]
    invalid = AssetGraph([spec(dep) for dep in deps] + [spec("wide", deps)])
    observed = DiscoveryObservation(pod=succeeded(), result=result_of(invalid), assets=existing)
    assert ready(plan_code_location(location, observed, NOW, catalog_memo=memo))[:2] == ("False", INVALID_DEFINITIONS)


def test_definitions_an_asset_object_cannot_hold_fail_discovery() -> None:
    deps = [f"d{i}" for i in range(1001)]
    graph = AssetGraph([spec(dep) for dep in deps] + [spec("wide", deps)])
    plan = plan_code_location(make_location(), DiscoveryObservation(pod=succeeded(), result=result_of(graph)), NOW)
    assert ready(plan)[:2] == ("False", INVALID_DEFINITIONS)
    assert "asset wide cannot be stored" in ready(plan)[2]
    assert not plan.catalog


# --- failures -------------------------------------------------------------------------------------------


def failed_pod(reason: str = "Error", message: str = "", **extra: Any) -> PodOutcome:
    fields: dict[str, Any] = {"exit_code": 1, "finished_at": FINISHED, "final": True} | extra
    return pod(PodOutcomeKind.FAILED, reason, message, **fields)


def test_an_import_error_keeps_the_last_good_catalog() -> None:
    location, first = discovered_location()
    existing = as_assets(first.catalog.create)
    message = "cannot load module 'shop': ModuleNotFoundError: No module named 'pandas'"
    broken = failed(IMPORT_ERROR, message, "ModuleNotFoundError")
    plan = plan_code_location(location, DiscoveryObservation(pod=failed_pod(), result=broken, assets=existing), NOW)
    status, reason, message = ready(plan)
    assert (status, reason) == ("False", IMPORT_ERROR)
    assert "No module named 'pandas'" in message
    previous = location.status
    assert previous is not None and previous.assets is not None
    assert f"keeping the 5 assets of the last successful discovery (graph {previous.assets.graph_hash}" in message
    assert "kubeasset.dev/refresh" in message
    assert plan.status.assets == previous.assets and plan.status.jobs == previous.jobs
    assert not plan.catalog  # nothing deleted
    assert plan.delete == ()  # the code is at fault: no retry until the input changes
    assert [(e.type, e.reason) for e in plan.events] == [(EventType.WARNING, IMPORT_ERROR)]
    again = plan_code_location(
        applied(location, plan), DiscoveryObservation(pod=failed_pod(), result=broken, assets=existing), NOW
    )
    assert again.events == () and again.status == plan.status


def test_an_invalid_graph_on_first_discovery() -> None:
    result = failed(INVALID_GRAPH, "dependency cycle: a -> b -> a", "CycleError")
    plan = plan_code_location(make_location(), DiscoveryObservation(pod=failed_pod(), result=result), NOW)
    status, reason, message = ready(plan)
    assert (status, reason) == ("False", INVALID_GRAPH)
    assert "dependency cycle: a -> b -> a" in message and "keeping" not in message
    assert plan.status.assets is None and plan.status.observed_generation == 1


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("OOMKilled", "was OOMKilled (memory limit 1Gi)"),
        ("DeadlineExceeded", "exceeded its run timeout"),
        ("Evicted", "was evicted"),
    ],
)
def test_a_pod_that_died_is_retried_after_a_pause(reason: str, message: str) -> None:
    location, first = discovered_location()
    outcome = failed_pod(reason, f"Pod {POD} {message}")
    result = failed(DISCOVERY_FAILED, "no document")
    early = plan_code_location(
        location, DiscoveryObservation(pod=outcome, result=result), FINISHED + timedelta(seconds=60)
    )
    assert ready(early)[:2] == ("False", DISCOVERY_FAILED) and message in ready(early)[2]
    assert "keeping the 5 assets" in ready(early)[2]
    assert early.delete == () and early.requeue_after == pytest.approx(DEFAULTS.retry_seconds - 60)
    late = plan_code_location(
        location, DiscoveryObservation(pod=outcome, result=result), FINISHED + timedelta(seconds=DEFAULTS.retry_seconds)
    )
    assert late.delete == (ObjectId(POD),)


def test_a_pod_that_failed_before_running_is_retried_after_a_pause_too() -> None:
    evicted = pod(PodOutcomeKind.FAILED, "Evicted", f"Pod {POD} was evicted", final=True)  # no finish time
    first = plan_code_location(make_location(), DiscoveryObservation(pod=evicted), NOW)
    assert first.delete == () and first.requeue_after == DEFAULTS.retry_seconds
    later = NOW + timedelta(seconds=DEFAULTS.retry_seconds)
    assert plan_code_location(applied(make_location(), first), DiscoveryObservation(pod=evicted), later).delete == (
        ObjectId(POD),
    )


def test_a_crash_reports_the_runners_output() -> None:
    result = failed(DISCOVERY_FAILED, "the runner crashed (exit 3, a kubeasset bug): RuntimeError: x")
    plan = plan_code_location(make_location(), DiscoveryObservation(pod=failed_pod(exit_code=3), result=result), NOW)
    assert "RuntimeError: x" in ready(plan)[2]


def test_a_finished_pod_whose_output_is_lost() -> None:
    plan = plan_code_location(make_location(), DiscoveryObservation(pod=succeeded(), result=None), NOW)
    assert ready(plan)[:2] == ("False", DISCOVERY_FAILED) and "could not be read" in ready(plan)[2]


@pytest.mark.parametrize(
    ("waiting", "final", "expected"),
    [
        ("ImagePullBackOff", False, IMAGE_PULL_FAILED),
        ("ErrImagePull", False, IMAGE_PULL_FAILED),
        ("InvalidImageName", True, IMAGE_PULL_FAILED),
        ("CreateContainerConfigError", False, POD_START_FAILED),
    ],
)
def test_a_pod_that_cannot_start(waiting: str, final: bool, expected: str) -> None:
    location, first = discovered_location()
    message = f"Pod {POD} cannot start: {waiting}: back-off pulling image"
    outcome = pod(PodOutcomeKind.NOT_STARTING, waiting, message, final=final)
    plan = plan_code_location(location, DiscoveryObservation(pod=outcome, assets=as_assets(first.catalog.create)), NOW)
    assert ready(plan)[:2] == ("False", expected) and message in ready(plan)[2]
    assert "keeping the 5 assets" in ready(plan)[2]
    assert not plan.catalog and plan.delete == ()
    assert plan.requeue_after == (None if final else DEFAULTS.poll_seconds)


def test_recovery_after_a_failure_is_an_event() -> None:
    location, _ = discovered_location()
    result = failed(IMPORT_ERROR, "boom", "ValueError")
    broken = applied(location, plan_code_location(location, DiscoveryObservation(pod=failed_pod(), result=result), NOW))
    plan = plan_code_location(broken, DiscoveryObservation(pod=succeeded(), result=result_of(shop_graph())), NOW)
    assert ready(plan)[:2] == ("True", DISCOVERED)
    assert [e.reason for e in plan.events] == [DISCOVERED]
    condition = find_condition(plan.status.conditions, READY)
    assert condition is not None and condition.last_transition_time == NOW


# --- periodic refresh -----------------------------------------------------------------------------------


def test_periodic_refresh_requeues_at_the_next_epoch_and_starts_a_new_pod_then() -> None:
    location, _ = discovered_location(spec={"refresh": {"intervalSeconds": 3600}})
    now = NOW + timedelta(minutes=20)  # NOW is on an hour boundary
    plan = plan_code_location(location, DiscoveryObservation(pod=succeeded(), result=result_of(shop_graph())), now)
    assert plan.requeue_after == pytest.approx(40 * 60 + 1)
    later = now + timedelta(seconds=plan.requeue_after or 0)
    current = ObjectId(discovery_pod_name(location, now), "u1")
    next_plan = plan_code_location(location, DiscoveryObservation(other_pods=[current]), later)
    assert [p["metadata"]["name"] for p in next_plan.create] == [discovery_pod_name(location, later)]
    assert discovery_pod_name(location, later) != current.name
    assert next_plan.delete == (current,)
    assert next_plan.status == location.status  # Ready stays True while refreshing

"""plan_asset_job: a job's selection resolved against its code location's graph, or why it is not."""

from __future__ import annotations

from typing import Any

import pytest

from kubeasset.api import AssetJob, CodeLocation
from kubeasset.api.codelocation import CodeJob
from kubeasset.api.conditions import READY, find_condition
from kubeasset.graph import AssetGraph
from kubeasset.reconcile.asset_job import (
    CODE_LOCATION_NOT_FOUND,
    EMPTY_SELECTION,
    INVALID_SELECTION,
    RESOLVED,
    TOO_MANY_ASSETS,
    UNKNOWN_CODE_JOB,
    WAITING_FOR_CODE_LOCATION,
    AssetJobPlan,
    needs_graph,
    plan_asset_job,
)
from kubeasset.reconcile.catalog import desired_assets, graph_from_assets
from kubeasset.reconcile.plan_items import EventType
from kubeasset.selection import resolve_selection
from tests.unit.reconcile.location_builders import NOW, as_assets, make_location, shop_graph, spec

READY_STATUS: dict[str, Any] = {
    "observedGeneration": 1,
    "conditions": [
        {"type": "Ready", "status": "True", "reason": "Discovered", "message": "5 assets", "lastTransitionTime": NOW}
    ],
    "assets": {"count": 5, "groups": ["raw", "sales"], "graphHash": "0123456789abcdef"},
    "jobs": [{"name": "daily_sales", "selection": "group:sales"}, {"name": "raw_only", "selection": "group:raw"}],
}


def make_job(selection: str = "group:sales", *, generation: int = 2, status: dict[str, Any] | None = None) -> AssetJob:
    body: dict[str, Any] = {
        "apiVersion": "kubeasset.dev/v1alpha1",
        "kind": "AssetJob",
        "metadata": {"name": "sales", "namespace": "data", "uid": "job-uid", "generation": generation},
        "spec": {"codeLocation": "shop", "selection": selection},
    }
    if status is not None:
        body["status"] = status
    return AssetJob.model_validate(body)


def ready_location(**status: Any) -> CodeLocation:
    return make_location(status=READY_STATUS | status)


def catalog_graph() -> AssetGraph:
    """The graph as the controller has it: rebuilt from the location's Asset objects."""
    return graph_from_assets(as_assets(desired_assets(make_location(), shop_graph())), "shop")


def plan(job: AssetJob, location: CodeLocation | None = None, graph: AssetGraph | None = None) -> AssetJobPlan:
    return plan_asset_job(job, location, graph, None, NOW)


def ready_of(result: AssetJobPlan) -> tuple[str, str, str]:
    condition = find_condition(result.status.conditions, READY)
    assert condition is not None
    return condition.status.value, condition.reason, condition.message


def with_status(job: AssetJob, result: AssetJobPlan) -> AssetJob:
    return job.model_copy(update={"status": result.status})


# --- resolved -------------------------------------------------------------------------------------------


def test_a_job_resolved_against_the_current_graph_is_planned_without_it() -> None:
    job, location = make_job("group:sales"), ready_location()
    assert needs_graph(job, location)
    resolved = with_status(job, plan(job, location, catalog_graph()))

    assert not needs_graph(resolved, location)
    again = plan(resolved, location, None)
    assert again.status == resolved.status and again.events == ()
    assert again.resolved == plan(resolved, location, catalog_graph()).resolved


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(
            lambda job, location: (
                job.model_copy(update={"metadata": job.metadata.model_copy(update={"generation": 3})}),
                location,
            ),
            id="new spec",
        ),
        pytest.param(
            lambda job, location: (
                job,
                ready_location(assets={"count": 5, "groups": ["raw"], "graphHash": "fedcba9876543210"}),
            ),
            id="new graph",
        ),
        pytest.param(lambda job, location: (make_job("group:sales", status=None), location), id="never resolved"),
    ],
)
def test_a_new_spec_or_graph_needs_the_graph(change: Any) -> None:
    job, location = make_job("group:sales"), ready_location()
    resolved = with_status(job, plan(job, location, catalog_graph()))

    changed_job, changed_location = change(resolved, location)

    assert needs_graph(changed_job, changed_location)
    assert ready_of(plan(changed_job, changed_location, None))[1] == WAITING_FOR_CODE_LOCATION


def test_a_job_defined_in_code_always_needs_the_graph() -> None:
    body = make_job().model_dump(by_alias=True, exclude_none=True)
    body["spec"] = {"codeLocation": "shop", "codeJob": "daily_sales"}
    job, location = AssetJob.model_validate(body), ready_location()
    resolved = with_status(job, plan_asset_job(job, location, catalog_graph(), None, NOW))

    assert ready_of(plan_asset_job(resolved, location, catalog_graph(), None, NOW))[1] == RESOLVED
    assert needs_graph(resolved, location)


def test_a_selection_resolves_to_ordered_keys() -> None:
    job = make_job("group:sales")
    result = plan(job, ready_location(), catalog_graph())
    assert result.status.assets == ["orders", "customers", "revenue"]
    assert [key.to_user_string() for key in result.resolved] == result.status.assets
    assert result.status.asset_count == 3
    assert result.status.graph_hash == "0123456789abcdef"
    assert result.status.observed_generation == 2
    assert ready_of(result) == ("True", RESOLVED, "3 assets of code location 'shop'")
    condition = find_condition(result.status.conditions, READY)
    assert condition is not None and condition.observed_generation == 2
    assert [(e.type, e.reason) for e in result.events] == [(EventType.NORMAL, RESOLVED)]
    assert result.requeue_after is None


def test_the_same_keys_as_the_sdk_resolves() -> None:
    selection = "+key:revenue or (group:raw and not key:raw/customers)"
    result = plan(make_job(selection), ready_location(), catalog_graph())
    assert list(result.resolved) == resolve_selection(selection, shop_graph())


def test_replanning_a_resolved_job_changes_nothing() -> None:
    job = make_job()
    first = plan(job, ready_location(), catalog_graph())
    again = plan(with_status(job, first), ready_location(), catalog_graph())
    assert again.status == first.status and again.events == ()


def test_a_location_whose_refresh_failed_still_resolves_jobs() -> None:
    failing = {
        "conditions": [
            {"type": "Ready", "status": "False", "reason": "ImagePullFailed", "message": "x", "lastTransitionTime": NOW}
        ]
    }
    result = plan(make_job(), ready_location(**failing), catalog_graph())
    status, reason, message = ready_of(result)
    assert (status, reason) == ("True", RESOLVED)
    assert "last discovered graph" in message and "ImagePullFailed" in message


# --- not resolved ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selection", "reason", "words"),
    [
        ("group:sales and", INVALID_SELECTION, "column"),
        ("key:orders)", INVALID_SELECTION, "column"),
        ("status:FAILED", INVALID_SELECTION, "status"),
        ("group:nothing", EMPTY_SELECTION, "matches none of the 5 assets"),
        ("key:raw/orders and key:revenue", EMPTY_SELECTION, "groups: raw, sales"),
    ],
)
def test_a_selection_that_does_not_resolve(selection: str, reason: str, words: str) -> None:
    result = plan(make_job(selection), ready_location(), catalog_graph())
    status, actual_reason, message = ready_of(result)
    assert (status, actual_reason) == ("False", reason)
    assert words in message and "spec.selection" in message
    assert result.resolved == () and result.status.assets is None and result.status.asset_count is None
    assert [(e.type, e.reason) for e in result.events] == [(EventType.WARNING, reason)]


def test_a_syntax_error_points_at_the_column() -> None:
    result = plan(make_job("group:sales and and"), ready_location(), catalog_graph())
    message = ready_of(result)[2]
    assert "column 17" in message and "^" in message


def test_a_broken_selection_clears_the_previous_list() -> None:
    job = make_job()
    resolved = with_status(job, plan(job, ready_location(), catalog_graph()))
    broken = resolved.model_copy(update={"spec": resolved.spec.model_copy(update={"selection": "group:"})})
    result = plan(broken, ready_location(), catalog_graph())
    assert ready_of(result)[:2] == ("False", INVALID_SELECTION)
    assert result.status.assets is None and result.status.graph_hash is None


def test_an_unknown_code_location() -> None:
    result = plan(make_job(), None, None)
    status, reason, message = ready_of(result)
    assert (status, reason) == ("False", CODE_LOCATION_NOT_FOUND)
    assert "'shop' does not exist" in message
    assert result.requeue_after is not None


@pytest.mark.parametrize(
    ("location_status", "words"),
    [
        (None, "waiting for code location 'shop' to be discovered"),
        (
            {
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "False",
                        "reason": "ImportError",
                        "message": "No module named 'pandas'",
                        "lastTransitionTime": NOW,
                    }
                ]
            },
            "ImportError: No module named 'pandas'",
        ),
    ],
)
def test_a_location_never_discovered_is_waited_for(location_status: dict[str, Any] | None, words: str) -> None:
    previous = plan(make_job(), ready_location(), catalog_graph()).status
    job = make_job(status=previous.to_json())
    result = plan(job, make_location(status=location_status), None)
    status, reason, message = ready_of(result)
    assert (status, reason) == ("False", WAITING_FOR_CODE_LOCATION)
    assert words in message
    assert result.status.assets == previous.assets  # the last list is kept while waiting
    assert result.requeue_after is not None


def test_an_incomplete_catalog_is_waited_for() -> None:
    result = plan(make_job(), ready_location(), None)
    assert ready_of(result)[:2] == ("False", WAITING_FOR_CODE_LOCATION)
    assert "catalog is incomplete" in ready_of(result)[2]


def test_too_many_assets() -> None:
    graph = AssetGraph([spec(f"a{i}") for i in range(5001)], code_location="shop")
    result = plan(make_job("*"), ready_location(), graph)
    status, reason, message = ready_of(result)
    assert (status, reason) == ("False", TOO_MANY_ASSETS)
    assert "5001 assets" in message and "at most 5000" in message


# --- jobs defined in code -------------------------------------------------------------------------------


def referring_to(name: str) -> AssetJob:
    # The AssetJob API has no field to name a job defined in code yet (spec.codeJob is proposed); this
    # stands in for it until the model has one.
    job = make_job("*")
    return job.model_copy(update={"spec": job.spec.model_copy(update={"code_job": name})})


def test_a_job_defined_in_code_gives_its_selection() -> None:
    result = plan(referring_to("raw_only"), ready_location(), catalog_graph())
    assert result.status.assets == ["raw/customers", "raw/orders"]


def test_code_jobs_can_be_passed_explicitly() -> None:
    jobs = [CodeJob(name="raw_only", selection="key:raw/orders")]
    result = plan_asset_job(referring_to("raw_only"), ready_location(), catalog_graph(), jobs, NOW)
    assert result.status.assets == ["raw/orders"]


def test_an_unknown_job_in_code() -> None:
    result = plan(referring_to("weekly"), ready_location(), catalog_graph())
    status, reason, message = ready_of(result)
    assert (status, reason) == ("False", UNKNOWN_CODE_JOB)
    assert "does not define job 'weekly'" in message and "daily_sales, raw_only" in message


# --- lastRun ------------------------------------------------------------------------------------------


def test_last_run_is_the_most_recently_created_run_with_its_phase_and_times() -> None:
    from datetime import timedelta

    from tests.unit.reconcile.asset_run_builders import CREATED
    from tests.unit.reconcile.asset_run_builders import run as make_run

    done = {"phase": "Succeeded", "completionTime": "2024-05-01T03:00:00Z"}
    older = make_run("sales-1", created=CREATED, status=done)
    running = {"phase": "Running", "startTime": "2024-05-01T04:00:00Z"}
    newer = make_run("sales-2", created=CREATED + timedelta(minutes=5), status=running)
    result = plan_asset_job(make_job(), ready_location(), catalog_graph(), None, NOW, runs=[newer, older])
    last = result.status.last_run
    assert last is not None
    assert (last.name, str(last.phase)) == ("sales-2", "Running")
    assert last.start_time is not None and last.completion_time is None

    # Whatever the job's own state: waiting for its location, it still reports its last run.
    waiting = plan_asset_job(make_job(), None, None, None, NOW, runs=[older])
    assert waiting.status.last_run is not None and waiting.status.last_run.name == "sales-1"


def test_last_run_is_cleared_when_the_job_has_no_run_and_kept_when_runs_are_not_observed() -> None:
    job = make_job(status={"lastRun": {"name": "sales-9", "phase": "Failed"}})
    assert plan_asset_job(job, ready_location(), catalog_graph(), None, NOW, runs=[]).status.last_run is None
    kept = plan_asset_job(job, ready_location(), catalog_graph(), None, NOW).status.last_run
    assert kept is not None and kept.name == "sales-9"


def test_a_run_event_needs_a_job_reconcile_exactly_when_it_moves_last_run() -> None:
    from datetime import timedelta

    from kubeasset.api import AssetRun
    from kubeasset.reconcile.asset_job import last_run, last_run_may_change
    from tests.unit.reconcile.asset_run_builders import CREATED
    from tests.unit.reconcile.asset_run_builders import run as make_run

    runs: dict[str, AssetRun] = {}
    decisions: list[bool] = []

    def event(changed: AssetRun, *, deleted: bool = False) -> None:
        shown = last_run(list(runs.values()))  # the job's status is up to date before each event
        name = changed.metadata.name or ""
        if deleted:
            del runs[name]
        else:
            runs[name] = changed
        shown_run = runs.get(shown.name) if shown is not None else None
        moves = last_run_may_change(shown, changed, deleted=deleted, shown_run=shown_run)
        assert moves == (last_run(list(runs.values())) != shown), name
        decisions.append(moves)

    starting = {"phase": "Starting", "podName": "sales-1", "message": "Pod sales-1 is not running yet"}
    event(make_run("sales-1"))  # created: the job's new lastRun
    event(make_run("sales-1", status=starting))  # Pending -> Starting
    event(make_run("sales-1", status={**starting, "message": "Pod sales-1: pulling the image"}))  # same phase
    later = CREATED + timedelta(seconds=1)
    event(make_run("sales-2", created=later))  # a newer run replaces it
    done = {**starting, "phase": "Succeeded", "completionTime": "2025-03-02T05:00:20Z"}
    event(make_run("sales-1", status=done))  # the older run finishing: not shown
    event(make_run("sales-1", status=done), deleted=True)  # the older run deleted
    event(make_run("sales-2", created=later), deleted=True)  # the shown run deleted: none is left
    assert decisions == [True, True, False, True, False, False, True]

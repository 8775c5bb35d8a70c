"""Which change wakes which reconcile: an Asset's status churn wakes nobody, its spec changes wake its jobs,
and changes someone else made to the catalog wake its CodeLocation, which repairs it."""

from __future__ import annotations

from typing import Any

from kubeasset.api.assetrun import AssetRun, AssetRunStatus
from kubeasset.controller import cache
from kubeasset.controller.runtime import (
    ASSET_JOB,
    ASSET_RUN,
    ASSET_SCHEDULE,
    ASSET_SENSOR,
    CATALOG_DEBOUNCE_SECONDS,
    CODE_LOCATION,
    Controller,
)
from kubeasset.controller.workqueue import ObjectKey


class _Queue:
    def __init__(self) -> None:
        self.added: list[tuple[ObjectKey, float]] = []

    def add(self, key: ObjectKey, delay: float = 0.0) -> None:
        self.added.append((key, delay))


def _controller() -> tuple[Controller, _Queue]:
    controller = Controller(io=None)  # type: ignore[arg-type]  # routing makes no API call
    indexes: dict[str, Any] = {name: {} for name in cache.ALL_INDEXES}
    indexes[cache.JOBS_BY_LOCATION][("ns", "shop")] = ["sales-job", "marketing-job"]
    controller.cache.bind(indexes)
    queue = _Queue()
    controller.queue = queue  # type: ignore[assignment]
    return controller, queue


LOCATION = ObjectKey(CODE_LOCATION, "ns", "shop")
JOBS = {ObjectKey(ASSET_JOB, "ns", "sales-job"), ObjectKey(ASSET_JOB, "ns", "marketing-job")}


def test_a_location_change_wakes_it_and_its_jobs_at_once() -> None:
    controller, queue = _controller()
    controller.location_changed("ns", "shop")
    assert {key for key, _ in queue.added} == {LOCATION, *JOBS}
    assert all(delay == 0.0 for _, delay in queue.added)


def test_listing_and_status_churn_of_assets_wake_nobody() -> None:
    controller, queue = _controller()
    controller.asset_changed(None, "ns", "shop", "uid-1", 1)  # the initial listing
    controller.asset_changed("MODIFIED", "ns", "shop", "uid-1", 1)  # a status write: same generation
    assert queue.added == []


def test_a_new_asset_wakes_the_jobs_debounced_but_not_its_location() -> None:
    controller, queue = _controller()
    controller.asset_changed("ADDED", "ns", "shop", "uid-1", 1)
    assert {key for key, _ in queue.added} == JOBS
    assert {delay for _, delay in queue.added} == {CATALOG_DEBOUNCE_SECONDS}


def test_a_spec_change_or_deletion_wakes_the_location_to_repair_its_catalog() -> None:
    controller, queue = _controller()
    controller.asset_changed(None, "ns", "shop", "uid-1", 1)
    controller.asset_changed("MODIFIED", "ns", "shop", "uid-1", 2)
    assert {key for key, _ in queue.added} == {LOCATION, *JOBS}
    queue.added.clear()
    controller.asset_changed("DELETED", "ns", "shop", "uid-1", 2)
    assert {key for key, _ in queue.added} == {LOCATION, *JOBS}


def test_a_job_change_wakes_the_schedules_and_sensors_that_start_it() -> None:
    controller, queue = _controller()
    controller.cache.bind(
        {
            **{name: {} for name in cache.ALL_INDEXES},
            cache.SCHEDULES_BY_JOB: {("ns", "sales-job"): ["nightly", "hourly"], ("ns", "other"): ["elsewhere"]},
            cache.SENSORS_BY_JOB: {("ns", "sales-job"): ["on-orders"]},
        }
    )
    controller.job_changed("ns", "sales-job")
    assert {key for key, _ in queue.added} == {
        ObjectKey(ASSET_JOB, "ns", "sales-job"),
        ObjectKey(ASSET_SCHEDULE, "ns", "nightly"),
        ObjectKey(ASSET_SCHEDULE, "ns", "hourly"),
        ObjectKey(ASSET_SENSOR, "ns", "on-orders"),
    }


def _run(name: str, phase: str | None, **spec: Any) -> AssetRun:
    body: dict[str, Any] = {
        "apiVersion": "kubeasset.dev/v1alpha1",
        "kind": "AssetRun",
        "metadata": {"name": name, "namespace": "ns", "creationTimestamp": f"2027-01-01T00:00:{int(name[-1]):02}Z"},
        "spec": spec or {"job": "sales-job"},
    }
    if phase is not None:
        body["status"] = {"phase": phase}
    return AssetRun.model_validate(body)


def test_a_job_change_wakes_its_pending_runs_which_wait_for_it_to_be_ready() -> None:
    controller, queue = _controller()
    runs = [_run("run-1", None), _run("run-2", "Pending"), _run("run-3", "Running"), _run("run-4", "Succeeded")]
    controller.cache.bind(
        {**{name: {} for name in cache.ALL_INDEXES}, cache.RUNS: {(cache.RUN_BY_JOB, "ns", "sales-job"): runs}}
    )
    controller.job_changed("ns", "sales-job")
    woken = {key for key, _ in queue.added if key.kind == ASSET_RUN}
    assert woken == {ObjectKey(ASSET_RUN, "ns", "run-1"), ObjectKey(ASSET_RUN, "ns", "run-2")}


def test_a_finished_run_wakes_only_the_first_runs_waiting_for_the_controller_wide_limit() -> None:
    controller, queue = _controller()
    controller.max_concurrent_runs = 2
    waiting = {"phase": "Pending", "conditions": [_waiting_condition()]}
    burst = [_run(f"wait-{index}", None) for index in range(1, 6)]
    burst = [run.model_copy(update={"status": AssetRunStatus.model_validate(waiting)}) for run in burst]
    controller.cache.bind(
        {**{name: {} for name in cache.ALL_INDEXES}, cache.RUNS: {(cache.RUN_UNFINISHED, "", ""): burst}}
    )
    controller.run_changed("ns", "done-9", _run("done-9", "Succeeded", codeLocation="shop", selection="*"))
    woken = {key.name for key, _ in queue.added if key.kind == ASSET_RUN}
    assert woken == {"done-9", "wait-1", "wait-2"}  # not all five: a burst of hundreds would cost as many


def _waiting_condition() -> dict[str, Any]:
    return {
        "type": "Succeeded",
        "status": "Unknown",
        "reason": "WaitingForConcurrency",
        "message": "waiting for a free slot",
        "lastTransitionTime": "2027-01-01T00:00:00Z",
    }

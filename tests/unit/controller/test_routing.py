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
    _store_runs(controller, runs)
    controller.job_changed("ns", "sales-job")
    woken = {key for key, _ in queue.added if key.kind == ASSET_RUN}
    assert woken == {ObjectKey(ASSET_RUN, "ns", "run-1"), ObjectKey(ASSET_RUN, "ns", "run-2")}


def test_a_finished_run_wakes_only_the_first_runs_waiting_for_the_controller_wide_limit() -> None:
    controller, queue = _controller()
    controller.max_concurrent_runs = 2
    waiting = {"phase": "Pending", "conditions": [_waiting_condition()]}
    burst = [_run(f"wait-{index}", None) for index in range(1, 6)]
    burst = [run.model_copy(update={"status": AssetRunStatus.model_validate(waiting)}) for run in burst]
    _store_runs(controller, burst)
    done = _run("done-9", "Succeeded", codeLocation="shop", selection="*")
    controller.run_changed("ns", "done-9", done, event_type=None)  # listed at start: queued for itself only
    assert {key.name for key, _ in queue.added if key.kind == ASSET_RUN} == {"done-9"}
    queue.added.clear()
    controller.run_changed("ns", "done-9", done, event_type="MODIFIED")  # it finished now
    woken = {key.name for key, _ in queue.added if key.kind == ASSET_RUN}
    assert woken == {"done-9", "wait-1", "wait-2"}  # not all five: a burst of hundreds would cost as many


def _store_runs(controller: Controller, runs: list[AssetRun]) -> None:
    for run in runs:  # as the AssetRun informer does
        controller.cache.run_store.put(run.metadata.name or "", run)


def _waiting_condition() -> dict[str, Any]:
    return {
        "type": "Succeeded",
        "status": "Unknown",
        "reason": "WaitingForConcurrency",
        "message": "waiting for a free slot",
        "lastTransitionTime": "2027-01-01T00:00:00Z",
    }


def _job(*, ready: bool = True, last_run: str | None = None) -> Any:
    from kubeasset.api.assetjob import AssetJob

    status: dict[str, Any] = {
        "observedGeneration": 1,
        "conditions": [
            {
                "type": "Ready",
                "status": "True" if ready else "False",
                "reason": "Resolved" if ready else "WaitingForCodeLocation",
                "message": "5 assets",
                "lastTransitionTime": "2027-01-01T00:00:00Z",
            }
        ],
    }
    if last_run is not None:
        status["lastRun"] = {"name": last_run, "phase": "Pending"}
    return AssetJob.model_validate(
        {
            "apiVersion": "kubeasset.dev/v1alpha1",
            "kind": "AssetJob",
            "metadata": {"name": "sales-job", "namespace": "ns", "generation": 1},
            "spec": {"codeLocation": "shop", "selection": "*"},
            "status": status,
        }
    )


def _with_job(controller: Controller, job: Any) -> None:
    controller.cache.bind(
        {
            **{name: {} for name in cache.ALL_INDEXES},
            cache.JOBS: {("ns", "sales-job"): [job]},
            cache.SCHEDULES_BY_JOB: {("ns", "sales-job"): ["nightly"]},
        }
    )


def test_a_job_whose_only_change_is_its_last_run_wakes_nobody_but_its_readiness_wakes_its_schedules() -> None:
    controller, queue = _controller()
    _with_job(controller, _job(ready=False))
    controller.job_changed("ns", "sales-job")  # first seen: everyone looks
    assert ObjectKey(ASSET_SCHEDULE, "ns", "nightly") in {key for key, _ in queue.added}
    queue.added.clear()
    _with_job(controller, _job(ready=False, last_run="run-1"))
    controller.job_changed("ns", "sales-job")  # the controller's own lastRun write
    assert queue.added == []
    _with_job(controller, _job(ready=True, last_run="run-1"))
    controller.job_changed("ns", "sales-job")
    assert {key for key, _ in queue.added} == {
        ObjectKey(ASSET_JOB, "ns", "sales-job"),
        ObjectKey(ASSET_SCHEDULE, "ns", "nightly"),
    }


def test_a_run_event_wakes_its_job_only_when_it_moves_the_jobs_last_run_and_then_debounced() -> None:
    from kubeasset.reconcile.asset_job import LAST_RUN_DEBOUNCE_SECONDS

    controller, queue = _controller()
    job_key = ObjectKey(ASSET_JOB, "ns", "sales-job")
    _with_job(controller, _job())  # no lastRun yet
    created = _run("run-1", None)
    _store_runs(controller, [created])
    controller.run_changed("ns", "run-1", created, event_type="ADDED")
    assert (job_key, LAST_RUN_DEBOUNCE_SECONDS) in queue.added
    queue.added.clear()
    _with_job(controller, _job(last_run="run-1"))  # the job shows it as Pending
    controller.run_changed("ns", "run-1", created, event_type="MODIFIED")  # e.g. a label edit
    assert job_key not in {key for key, _ in queue.added}
    starting = _run("run-1", "Starting")
    _store_runs(controller, [starting])
    controller.run_changed("ns", "run-1", starting, event_type="MODIFIED")
    assert job_key in {key for key, _ in queue.added}


def test_a_runs_own_status_write_coming_back_does_not_wake_it_but_anyone_elses_change_does() -> None:
    controller, queue = _controller()
    run_key = ObjectKey(ASSET_RUN, "ns", "run-1")

    def version(number: str) -> AssetRun:
        started = _run("run-1", "Starting", codeLocation="shop", selection="*")
        return started.model_copy(update={"metadata": started.metadata.model_copy(update={"resource_version": number})})

    written = version("7").to_json()
    controller.written.remember(ASSET_RUN, "ns", "run-1", based_on="6", obj=written)
    controller.run_changed("ns", "run-1", version("7"), event_type="MODIFIED")
    assert run_key not in {key for key, _ in queue.added}
    controller.run_changed("ns", "run-1", version("8"), event_type="MODIFIED")  # e.g. kubectl edits it
    assert run_key in {key for key, _ in queue.added}


def test_a_schedules_run_wakes_it_when_its_phase_or_times_move_not_at_each_progress_write() -> None:
    controller, queue = _controller()
    schedule_key = ObjectKey(ASSET_SCHEDULE, "ns", "hourly")

    def labelled(phase: str | None, progress: str | None = None) -> AssetRun:
        the_run = _run("run-1", phase, codeLocation="shop", selection="*")
        metadata = the_run.metadata.model_copy(update={"labels": {"kubeasset.dev/schedule": "hourly"}})
        the_run = the_run.model_copy(update={"metadata": metadata})
        if the_run.status is not None and progress is not None:
            the_run = the_run.model_copy(update={"status": the_run.status.model_copy(update={"progress": progress})})
        return the_run

    def wakes(the_run: AssetRun, event_type: str) -> bool:
        queue.added.clear()
        controller.run_changed("ns", "run-1", the_run, event_type=event_type)
        return schedule_key in {key for key, _ in queue.added}

    assert wakes(labelled(None), "ADDED")
    assert wakes(labelled("Running", "0/2"), "MODIFIED")
    assert not wakes(labelled("Running", "1/2"), "MODIFIED")  # progress only
    assert wakes(labelled("Succeeded", "2/2"), "MODIFIED")
    assert wakes(labelled("Succeeded", "2/2"), "DELETED")


def test_a_schedules_own_status_write_coming_back_wakes_nobody_but_any_other_change_does() -> None:
    controller, queue = _controller()
    written = {"metadata": {"name": "hourly", "namespace": "ns", "resourceVersion": "42"}}
    controller.written.remember(ASSET_SCHEDULE, "ns", "hourly", based_on="41", obj=written)
    controller.schedule_changed("ns", "hourly", "42")  # the controller's own write
    assert queue.added == []
    controller.schedule_changed("ns", "hourly", "43")  # someone edited it since
    assert [key for key, _ in queue.added] == [ObjectKey(ASSET_SCHEDULE, "ns", "hourly")]

"""The controller's Prometheus metrics as a scrape shows them: runs counted by namespace, job and phase from the
cache, durations observed once when a run finishes, launch latency, schedule lateness, sensor results, the
work queue's errors, durations and depth, each controller in a registry of its own."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from kubeasset.api.assetrun import SCHEDULED_TIME_ANNOTATION, AssetRun, AssetRunStatus
from kubeasset.api.conditions import ConditionStatus
from kubeasset.controller.metrics import ControllerMetrics, count_runs, sensor_result
from kubeasset.controller.workqueue import ObjectKey, QueueDepth, WorkQueue
from kubeasset.errors import InvalidManifestError

T0 = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)


def make_run(
    name: str,
    *,
    namespace: str = "shop",
    job: str | None = "daily",
    phase: str | None = None,
    created: datetime = T0,
    **status: Any,
) -> AssetRun:
    spec: dict[str, Any] = {"job": job} if job else {"codeLocation": "shop", "selection": "*"}
    body: dict[str, Any] = {
        "apiVersion": "kubeasset.dev/v1alpha1",
        "kind": "AssetRun",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{name}",
            "creationTimestamp": created.isoformat(),
        },
        "spec": spec,
    }
    if phase is not None or status:
        body["status"] = {"phase": phase, **status} if phase else dict(status)
    return AssetRun.model_validate(body)


def scrape(metrics: ControllerMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape: (sample name, sorted labels) -> value, parsed as Prometheus would."""
    text = generate_latest(metrics.registry).decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(metrics: ControllerMetrics, name: str, **labels: str) -> float | None:
    return scrape(metrics).get((name, tuple(sorted(labels.items()))))


class FakeClock:
    def __init__(self, wall: float) -> None:
        self.wall = wall
        self.mono = 1000.0

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


# --- runs by phase (computed at scrape time) -----------------------------------------------------------


def test_runs_are_counted_by_namespace_job_and_phase_with_every_phase_present() -> None:
    runs = [
        make_run("a", phase="Succeeded"),
        make_run("b", phase="Succeeded"),
        make_run("c", phase="Running"),
        make_run("d"),  # no status yet: Pending
        make_run("e", job=None, phase="Failed"),  # ad-hoc
        make_run("f", namespace="other", phase="Canceled"),
    ]
    metrics = ControllerMetrics(runs=lambda: runs)

    assert value(metrics, "kubeasset_runs", namespace="shop", job="daily", phase="Succeeded") == 2
    assert value(metrics, "kubeasset_runs", namespace="shop", job="daily", phase="Running") == 1
    assert value(metrics, "kubeasset_runs", namespace="shop", job="daily", phase="Pending") == 1
    assert value(metrics, "kubeasset_runs", namespace="shop", job="daily", phase="Failed") == 0
    assert value(metrics, "kubeasset_runs", namespace="shop", job="", phase="Failed") == 1
    assert value(metrics, "kubeasset_runs", namespace="other", job="daily", phase="Canceled") == 1
    assert value(metrics, "kubeasset_runs", namespace="other", job="daily", phase="Running") == 0


def test_the_run_gauge_follows_the_cache_at_each_scrape() -> None:
    runs = [make_run("a", phase="Running")]
    metrics = ControllerMetrics(runs=lambda: runs)
    assert value(metrics, "kubeasset_runs", namespace="shop", job="daily", phase="Running") == 1
    runs[0] = make_run("a", phase="Succeeded")
    assert value(metrics, "kubeasset_runs", namespace="shop", job="daily", phase="Running") == 0
    assert value(metrics, "kubeasset_runs", namespace="shop", job="daily", phase="Succeeded") == 1


def test_count_runs_has_no_run_names_as_labels() -> None:
    counts = count_runs([make_run(f"run-{n}", phase="Succeeded") for n in range(50)])
    assert len(counts) == 6  # one (namespace, job) x six phases, whatever the number of runs
    assert counts[("shop", "daily", "Succeeded")] == 50


def test_each_controller_has_its_own_registry() -> None:
    first = ControllerMetrics(runs=lambda: [make_run("a", phase="Running")])
    second = ControllerMetrics()
    first.sensor_evaluated("shop", "s", "triggered")
    assert value(first, "kubeasset_sensor_evaluations_total", namespace="shop", sensor="s", result="triggered") == 1
    assert value(second, "kubeasset_sensor_evaluations_total", namespace="shop", sensor="s", result="triggered") is None
    assert value(second, "kubeasset_runs", namespace="shop", job="daily", phase="Running") is None


# --- durations when a run finishes ---------------------------------------------------------------------


def final_status() -> AssetRunStatus:
    return AssetRunStatus.model_validate(
        {
            "phase": "Succeeded",
            "startTime": "2026-05-01T12:00:00Z",
            "completionTime": "2026-05-01T12:01:30Z",
            "assets": [
                {"key": "raw/orders", "state": "Materialized", "durationSeconds": 2.0},
                {"key": "cleaned", "state": "Materialized", "durationSeconds": 40.0},
                {
                    "key": "report",
                    "state": "Failed",
                    "startTime": "2026-05-01T12:01:00Z",
                    "endTime": "2026-05-01T12:01:20Z",
                },
                {"key": "never", "state": "Skipped"},
            ],
        }
    )


def test_a_finished_run_observes_its_duration_and_its_assets_durations() -> None:
    metrics = ControllerMetrics()
    metrics.run_final(make_run("a", phase="Running"), final_status())

    labels = {"namespace": "shop", "job": "daily", "phase": "Succeeded"}
    assert value(metrics, "kubeasset_run_duration_seconds_count", **labels) == 1
    assert value(metrics, "kubeasset_run_duration_seconds_sum", **labels) == 90.0
    assert value(metrics, "kubeasset_run_duration_seconds_bucket", **labels, le="60.0") == 0
    assert value(metrics, "kubeasset_run_duration_seconds_bucket", **labels, le="120.0") == 1
    materialized = {"namespace": "shop", "job": "daily", "result": "Materialized"}
    assert value(metrics, "kubeasset_asset_duration_seconds_count", **materialized) == 2
    assert value(metrics, "kubeasset_asset_duration_seconds_sum", **materialized) == 42.0
    failed = {"namespace": "shop", "job": "daily", "result": "Failed"}
    assert value(metrics, "kubeasset_asset_duration_seconds_sum", **failed) == 20.0  # from start/end times
    assert (
        value(metrics, "kubeasset_asset_duration_seconds_count", namespace="shop", job="daily", result="Skipped")
        is None
    )


# --- launch latency ------------------------------------------------------------------------------------


def test_launch_latency_runs_from_first_seen_to_pod_created_once_per_run() -> None:
    clock = FakeClock(T0.timestamp())
    metrics = ControllerMetrics(wall_clock=lambda: clock.wall, monotonic=lambda: clock.mono)
    clock.advance(60)
    run = make_run("a", created=T0 + timedelta(seconds=60))
    metrics.run_seen(run)
    clock.advance(0.2)
    metrics.run_seen(run)  # later events do not restart the clock
    clock.advance(0.1)
    metrics.pod_created(run)
    metrics.run_seen(make_run("a", phase="Pending"))  # a stale event after the Pod was created
    clock.advance(5)
    metrics.pod_created(run)  # a second create answered by 409

    labels = {"namespace": "shop", "job": "daily"}
    assert value(metrics, "kubeasset_run_launch_latency_seconds_count", **labels) == 1
    assert value(metrics, "kubeasset_run_launch_latency_seconds_sum", **labels) == pytest.approx(0.3)
    assert value(metrics, "kubeasset_run_launch_latency_seconds_bucket", **labels, le="0.25") == 0
    assert value(metrics, "kubeasset_run_launch_latency_seconds_bucket", **labels, le="0.5") == 1


def test_a_run_that_was_waiting_before_the_controller_started_counts_from_its_creation() -> None:
    clock = FakeClock(T0.timestamp())
    metrics = ControllerMetrics(wall_clock=lambda: clock.wall, monotonic=lambda: clock.mono)
    clock.advance(3)
    run = make_run("old", created=T0 - timedelta(seconds=2))
    metrics.run_seen(run)
    metrics.pod_created(run)
    assert value(metrics, "kubeasset_run_launch_latency_seconds_sum", namespace="shop", job="daily") == 5.0


def test_runs_already_started_or_finished_are_not_timed() -> None:
    metrics = ControllerMetrics()
    for run in (make_run("r", phase="Running"), make_run("s", phase="Succeeded")):
        metrics.run_seen(run)
        metrics.pod_created(run)
    assert value(metrics, "kubeasset_run_launch_latency_seconds_count", namespace="shop", job="daily") is None


# --- schedules and sensors -----------------------------------------------------------------------------


def created_run(uid: str, scheduled: str) -> dict[str, Any]:
    return {"metadata": {"name": "nightly-1", "uid": uid, "annotations": {SCHEDULED_TIME_ANNOTATION: scheduled}}}


def test_tick_lateness_is_observed_once_per_created_run() -> None:
    metrics = ControllerMetrics()
    metrics.schedule_run_created(
        "shop", "nightly", created_run("u1", "2026-05-01T12:00:00Z"), T0 + timedelta(seconds=0.5)
    )
    metrics.schedule_run_created(
        "shop", "nightly", created_run("u1", "2026-05-01T12:00:00Z"), T0 + timedelta(seconds=9)
    )
    metrics.schedule_run_created("shop", "nightly", {"metadata": {"uid": "u2"}}, T0)  # not a scheduled run

    labels = {"namespace": "shop", "schedule": "nightly"}
    assert value(metrics, "kubeasset_schedule_tick_lateness_seconds_count", **labels) == 1
    assert value(metrics, "kubeasset_schedule_tick_lateness_seconds_sum", **labels) == 0.5


def test_sensor_results_follow_the_plan() -> None:
    assert sensor_result(1, (ConditionStatus.TRUE, "Watching")) == "triggered"
    assert sensor_result(0, (ConditionStatus.TRUE, "Watching")) == "skipped"
    assert sensor_result(0, (ConditionStatus.TRUE, "Suspended")) == "suspended"
    assert sensor_result(0, (ConditionStatus.FALSE, "JobNotFound")) == "error"


# --- the work queue --------------------------------------------------------------------------------------


def test_the_work_queue_reports_durations_and_errors_by_kind_and_type() -> None:
    metrics = ControllerMetrics()
    outcomes: list[Exception | None] = [kopf.TemporaryError("later", delay=0.01), InvalidManifestError("bad"), None]
    done = asyncio.Event()

    async def reconcile(key: ObjectKey) -> float | None:
        outcome = outcomes.pop(0)
        if not outcomes:
            done.set()
        if outcome is not None:
            raise outcome
        return None

    async def main() -> None:
        queue = WorkQueue({"AssetRun": reconcile}, workers=1, observer=metrics)
        metrics.watch(lambda: (), queue.depth)
        task = asyncio.create_task(queue.run())
        queue.add(ObjectKey("AssetRun", "shop", "a"))  # fails (temporary), its retry fails (permanent)
        queue.add(ObjectKey("AssetRun", "shop", "b"), delay=0.3)  # succeeds
        try:
            await asyncio.wait_for(done.wait(), 5)
            await asyncio.sleep(0.05)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())
    assert value(metrics, "kubeasset_reconcile_errors_total", kind="AssetRun", error_type="temporary") == 1
    assert value(metrics, "kubeasset_reconcile_errors_total", kind="AssetRun", error_type="permanent") == 1
    # a, a's retry and b: every reconcile is timed, failed ones too
    assert value(metrics, "kubeasset_reconcile_duration_seconds_count", kind="AssetRun") == 3


def test_queue_depth_shows_due_and_delayed_keys_and_busy_workers() -> None:
    async def reconcile(key: ObjectKey) -> float | None:
        return None

    async def main() -> QueueDepth:
        queue = WorkQueue({"AssetJob": reconcile}, workers=3)
        queue.add(ObjectKey("AssetJob", "shop", "a"))
        queue.add(ObjectKey("AssetJob", "shop", "b"))
        queue.add(ObjectKey("AssetJob", "shop", "c"), delay=60)
        return queue.depth()

    depth = asyncio.run(main())
    metrics = ControllerMetrics(queue_depth=lambda: depth)
    assert value(metrics, "kubeasset_workqueue_depth", state="due") == 2
    assert value(metrics, "kubeasset_workqueue_depth", state="delayed") == 1
    assert value(metrics, "kubeasset_workqueue_busy_workers") == 0
    assert value(metrics, "kubeasset_workqueue_workers") == 3


def test_leader_gauge() -> None:
    metrics = ControllerMetrics()
    assert value(metrics, "kubeasset_leader") == 0
    metrics.set_leader(True)
    assert value(metrics, "kubeasset_leader") == 1

"""kubeasset's Prometheus metrics: what a platform team graphs and alerts on (runs by phase, how long runs and
assets take, how quickly a run gets its Pod, how late schedules fire, sensor outcomes, reconcile errors, the
work queue), one :class:`ControllerMetrics` per controller with a registry of its own, so several controllers
in one process (the tests, ``kubeasset dev``) never share or clash over a metric.

Two kinds of metric, on purpose:

* levels (runs by phase, the work queue, busy workers) are computed at scrape time from the controller's
  cache and queue by a custom collector: right after a restart they already show every run, and they can
  never drift from what the cluster holds;
* events (durations, latencies, evaluations, errors) are histograms and counters observed where they
  happen, once each: a run's durations when its final status was written (only on that transition).

Label cardinality stays bounded by objects a person creates (namespaces, jobs, schedules, sensors), never by
runs: no run or Pod name is ever a label.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Final

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kubeasset.api.assetrun import SCHEDULED_TIME_ANNOTATION, AssetRun, AssetRunStatus
from kubeasset.api.conditions import READY, Condition, ConditionStatus, find_condition
from kubeasset.api.runs import RunPhase
from kubeasset.controller.workqueue import QueueDepth

#: Run durations: seconds to a day (runs of data pipelines take minutes to hours).
RUN_DURATION_BUCKETS: Final = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0,
                               7200.0, 14400.0, 28800.0, 86400.0)  # fmt: skip
#: Asset durations: from a quick in-memory step (100 ms) to hours.
ASSET_DURATION_BUCKETS: Final = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 30.0, 60.0, 300.0, 600.0, 1800.0,
                                 3600.0, 7200.0, 14400.0)  # fmt: skip
#: Run seen -> Pod created: the controller's own latency, milliseconds to seconds.
LAUNCH_LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Scheduled instant -> run created: milliseconds when healthy, minutes to an hour after downtime (catch-up).
TICK_LATENESS_BUCKETS: Final = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
                                3600.0)  # fmt: skip
#: One reconcile: a cache read and a few API calls.
RECONCILE_DURATION_BUCKETS: Final = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

#: Sensor evaluation results (label ``result`` of kubeasset_sensor_evaluations_total).
SENSOR_TRIGGERED: Final = "triggered"
SENSOR_SKIPPED: Final = "skipped"
SENSOR_SUSPENDED: Final = "suspended"
SENSOR_ERROR: Final = "error"
#: Kinds of reconcile error (label ``error_type`` of kubeasset_reconcile_errors_total).
TEMPORARY: Final = "temporary"
PERMANENT: Final = "permanent"
#: How many created schedule runs are remembered so that a create answered by 409 is not counted twice.
_REMEMBERED_TICKS: Final = 4096


class _Levels(Collector):
    """Gauges computed at scrape time from the controller's state (see the module docstring)."""

    def __init__(self, metrics: ControllerMetrics) -> None:
        self._metrics = metrics

    def describe(self) -> Iterable[Metric]:
        return list(self._families())

    def collect(self) -> Iterable[Metric]:
        return list(self._families(filled=True))

    def _families(self, filled: bool = False) -> Iterator[Metric]:
        runs = GaugeMetricFamily(
            "kubeasset_runs",
            "AssetRuns the controller sees, by namespace, job (empty: ad-hoc runs) and phase "
            "(a run without status yet counts as Pending).",
            labels=("namespace", "job", "phase"),
        )
        depth = GaugeMetricFamily(
            "kubeasset_workqueue_depth",
            "Objects waiting in the controller's work queue: due now (waiting for a worker) or delayed "
            "(a requeue or retry at a later time).",
            labels=("state",),
        )
        busy = GaugeMetricFamily(
            "kubeasset_workqueue_busy_workers", "Reconcile workers busy right now (of kubeasset_workqueue_workers)."
        )
        workers = GaugeMetricFamily("kubeasset_workqueue_workers", "Reconcile workers of the controller.")
        if filled:
            for (namespace, job, phase), count in sorted(count_runs(self._metrics.runs()).items()):
                runs.add_metric((namespace, job, phase), count)
            stats = self._metrics.queue_depth()
            if stats is not None:
                depth.add_metric(("due",), stats.due)
                depth.add_metric(("delayed",), stats.delayed)
                busy.add_metric((), stats.busy)
                workers.add_metric((), stats.workers)
        yield runs
        yield depth
        yield busy
        yield workers


def count_runs(runs: Iterable[AssetRun]) -> dict[tuple[str, str, str], int]:
    """Runs by (namespace, job, phase). Every phase of a (namespace, job) that has runs is present, at 0 when
    no run is in it: a run moving on makes its old phase drop to 0 rather than vanish from the graph."""
    counts: dict[tuple[str, str, str], int] = {}
    jobs: set[tuple[str, str]] = set()
    for run in runs:
        namespace, job = run.metadata.namespace or "", run.spec.job or ""
        if (namespace, job) not in jobs:
            jobs.add((namespace, job))
            counts.update({(namespace, job, phase.value): 0 for phase in RunPhase})
        phase = run.status.phase if run.status is not None and run.status.phase is not None else RunPhase.PENDING
        counts[(namespace, job, phase.value)] += 1
    return counts


def sensor_result(created: int, ready: tuple[ConditionStatus, str] | None) -> str:
    """What one sensor evaluation came to, from its plan: ``triggered`` (a run is created), ``error`` (the
    sensor cannot evaluate: Ready=False, e.g. its job is missing or the selection invalid), ``suspended``,
    else ``skipped`` (nothing new, or the minimum interval holds a firing back)."""
    if created:
        return SENSOR_TRIGGERED
    if ready is not None and ready[0] == ConditionStatus.FALSE:
        return SENSOR_ERROR
    if ready is not None and ready[1] == "Suspended":
        return SENSOR_SUSPENDED
    return SENSOR_SKIPPED


def ready_of(conditions: Sequence[Condition] | None) -> tuple[ConditionStatus, str] | None:
    """(status, reason) of the Ready condition among a status's ``conditions``."""
    found = find_condition(conditions or (), READY)
    return (ConditionStatus(found.status), found.reason or "") if found is not None else None


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class ControllerMetrics:
    """The metrics of one controller, in its own registry (serve it with
    :func:`prometheus_client.generate_latest` or kubeasset.controller.probes).

    Example::

        metrics = ControllerMetrics(runs=cache.all_runs, queue_depth=queue.depth)
        metrics.reconcile_finished("AssetRun", 0.012, error_type=None)
        print(prometheus_client.generate_latest(metrics.registry).decode())
    """

    def __init__(
        self,
        *,
        runs: Callable[[], Iterable[AssetRun]] = lambda: (),
        queue_depth: Callable[[], QueueDepth | None] = lambda: None,
        registry: CollectorRegistry | None = None,
        wall_clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.runs = runs
        self.queue_depth = queue_depth
        self._wall = wall_clock
        self._monotonic = monotonic
        self._started_at = wall_clock()
        #: Run uid -> when its launch clock started: ("monotonic", first seen by this controller) or ("wall",
        #: its creationTimestamp) for runs that were there before it started (see :meth:`run_seen`).
        self._first_seen: dict[str, tuple[str, float]] = {}
        self._launched: set[str] = set()
        self._ticks: OrderedDict[str, None] = OrderedDict()
        registry_ = self.registry
        self.run_duration = Histogram(
            "kubeasset_run_duration_seconds",
            "Runs from start to completion (status.startTime -> status.completionTime), observed once when a "
            "run's final status is written; by namespace, job (empty: ad-hoc) and final phase.",
            ("namespace", "job", "phase"),
            buckets=RUN_DURATION_BUCKETS,
            registry=registry_,
        )
        self.asset_duration = Histogram(
            "kubeasset_asset_duration_seconds",
            "Assets of finished runs from start to end, by namespace, job and result (the asset's final state: "
            "Materialized, Failed, ...); observed once per asset when its run's final status is written.",
            ("namespace", "job", "result"),
            buckets=ASSET_DURATION_BUCKETS,
            registry=registry_,
        )
        self.launch_latency = Histogram(
            "kubeasset_run_launch_latency_seconds",
            "From a run first seen by this controller (its creationTimestamp for runs that existed before the "
            "controller started) to its Pod created, by namespace and job; a run queued behind maxConcurrentRuns "
            "counts its time in the queue.",
            ("namespace", "job"),
            buckets=LAUNCH_LATENCY_BUCKETS,
            registry=registry_,
        )
        self.tick_lateness = Histogram(
            "kubeasset_schedule_tick_lateness_seconds",
            "From a schedule's scheduled instant to its run created, by namespace and schedule "
            "(large after downtime: caught-up ticks).",
            ("namespace", "schedule"),
            buckets=TICK_LATENESS_BUCKETS,
            registry=registry_,
        )
        self.sensor_evaluations = Counter(
            "kubeasset_sensor_evaluations",
            "Sensor evaluations by namespace, sensor and result: triggered (a run was created), skipped "
            "(nothing new or the minimum interval holds it back), suspended, error (Ready=False).",
            ("namespace", "sensor", "result"),
            registry=registry_,
        )
        self.reconcile_errors = Counter(
            "kubeasset_reconcile_errors",
            "Failed reconciles by kind and error_type: temporary (retried with backoff) or permanent "
            "(waits for a change of the object).",
            ("kind", "error_type"),
            registry=registry_,
        )
        self.reconcile_duration = Histogram(
            "kubeasset_reconcile_duration_seconds",
            "Time one reconcile took, by kind (failed ones included).",
            ("kind",),
            buckets=RECONCILE_DURATION_BUCKETS,
            registry=registry_,
        )
        self.leader = Gauge(
            "kubeasset_leader",
            "1 while this replica acts (holds the leader Lease, or runs without leader election), else 0.",
            registry=registry_,
        )
        self.registry.register(_Levels(self))
        # The process's CPU, memory, open files and GC, as on prometheus_client's default registry.
        ProcessCollector(registry=registry_)
        PlatformCollector(registry=registry_)
        GCCollector(registry=registry_)

    def watch(self, runs: Callable[[], Iterable[AssetRun]], queue_depth: Callable[[], QueueDepth | None]) -> None:
        """Where the scrape-time gauges read: the cache's runs and the work queue (set once both exist)."""
        self.runs = runs
        self.queue_depth = queue_depth

    # --- the work queue ---------------------------------------------------------------------------------

    def reconcile_finished(self, kind: str, seconds: float, error_type: str | None) -> None:
        """One reconcile of ``kind`` took ``seconds``; ``error_type`` temporary/permanent when it failed."""
        self.reconcile_duration.labels(kind).observe(seconds)
        if error_type is not None:
            self.reconcile_errors.labels(kind, error_type).inc()

    # --- runs -------------------------------------------------------------------------------------------

    def run_seen(self, run: AssetRun) -> None:
        """A watch event of ``run``: the first one of a run still waiting for its Pod starts its launch clock.
        A run that was there before this controller started is timed from its creationTimestamp (the
        restart's delay is real latency to its user)."""
        uid = run.metadata.uid
        phase = run.status.phase if run.status is not None else None
        if not uid or uid in self._first_seen or uid in self._launched or phase not in (None, RunPhase.PENDING):
            return
        created = run.metadata.creation_timestamp
        if created is not None and created.timestamp() < self._started_at:
            self._first_seen[uid] = ("wall", created.timestamp())
        else:
            self._first_seen[uid] = ("monotonic", self._monotonic())

    def pod_created(self, run: AssetRun) -> None:
        """The create call of ``run``'s Pod returned: observe its launch latency (once per run)."""
        uid = run.metadata.uid or ""
        start = self._first_seen.pop(uid, None)
        if start is None or uid in self._launched:
            return
        self._launched.add(uid)
        clock, at = start
        seconds = (self._wall() if clock == "wall" else self._monotonic()) - at
        self.launch_latency.labels(run.metadata.namespace or "", run.spec.job or "").observe(max(seconds, 0.0))

    def run_final(self, run: AssetRun, status: AssetRunStatus) -> None:
        """``run``'s final ``status`` was just written (its transition to a final phase): observe the run's
        duration and its assets' durations."""
        namespace, job = run.metadata.namespace or "", run.spec.job or ""
        if status.phase is not None and status.start_time is not None and status.completion_time is not None:
            seconds = (status.completion_time - status.start_time).total_seconds()
            self.run_duration.labels(namespace, job, status.phase.value).observe(max(seconds, 0.0))
        for asset in status.assets or ():
            seconds_or_none = asset.duration_seconds
            if seconds_or_none is None and asset.start_time is not None and asset.end_time is not None:
                seconds_or_none = (asset.end_time - asset.start_time).total_seconds()
            if seconds_or_none is not None:
                self.asset_duration.labels(namespace, job, asset.state.value).observe(max(seconds_or_none, 0.0))
        self.forget_run(run.metadata.uid or "")

    def forget_run(self, uid: str) -> None:
        """``uid``'s run is final or gone: its launch clock is no longer needed."""
        self._first_seen.pop(uid, None)
        self._launched.discard(uid)

    # --- schedules and sensors --------------------------------------------------------------------------

    def schedule_run_created(self, namespace: str, schedule: str, created: dict[str, object], now: datetime) -> None:
        """The create call of a schedule's run returned ``created`` at ``now``: observe the tick's lateness
        (once per run: a create answered by 409 returns the run already counted)."""
        metadata = created.get("metadata")
        if not isinstance(metadata, dict):
            return
        uid = str(metadata.get("uid") or metadata.get("name") or "")
        annotations = metadata.get("annotations") or {}
        scheduled = _parse_time(annotations.get(SCHEDULED_TIME_ANNOTATION)) if isinstance(annotations, dict) else None
        if scheduled is None or not uid or uid in self._ticks:
            return
        self._ticks[uid] = None
        while len(self._ticks) > _REMEMBERED_TICKS:
            self._ticks.popitem(last=False)
        self.tick_lateness.labels(namespace, schedule).observe(max((now - scheduled).total_seconds(), 0.0))

    def sensor_evaluated(self, namespace: str, sensor: str, result: str) -> None:
        self.sensor_evaluations.labels(namespace, sensor, result).inc()

    # --- leadership -------------------------------------------------------------------------------------

    def set_leader(self, leading: bool) -> None:
        self.leader.set(1 if leading else 0)

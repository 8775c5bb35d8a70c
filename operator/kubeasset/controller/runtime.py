"""The controller's running state, shared by its handlers and reconcilers: the Kubernetes I/O, the Event
recorder, the informer cache, the work queue, and which object's change wakes which reconcile.

The routing lives here, in one place: a CodeLocation's change wakes it and its AssetJobs; a discovery
Pod's change wakes its CodeLocation; an Asset appearing, changing its spec or disappearing wakes its
location's AssetJobs (debounced: a discovery writing 10,000 Assets re-resolves each job about once a
second, not 10,000 times) and, when it was changed or deleted by someone else, its CodeLocation, which
puts the catalog back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import kopf

from kubeasset.api.assetrun import AssetRun
from kubeasset.api.resource import KubeResource
from kubeasset.api.runs import RunPhase
from kubeasset.controller.cache import Cache
from kubeasset.controller.events import EventRecorder
from kubeasset.controller.kube import KubeIO
from kubeasset.controller.metrics import ControllerMetrics
from kubeasset.controller.run_logs import RunLogs
from kubeasset.controller.run_memory import RunMemory, WrittenObjects
from kubeasset.controller.startup_gate import StartupGate
from kubeasset.controller.workqueue import ObjectKey, Reconcile, WorkQueue
from kubeasset.reconcile.asset_job import LAST_RUN_DEBOUNCE_SECONDS, last_run_may_change
from kubeasset.reconcile.catalog import CatalogMemo
from kubeasset.reconcile.discovery import DiscoveryDefaults
from kubeasset.reconcile.discovery_result import DiscoveryResult
from kubeasset.reconcile.plan_items import Event, EventType
from kubeasset.reconcile.run_pod import RunPodDefaults
from kubeasset.reconcile.run_queue import first_waiting
from kubeasset.reconcile.schedule import trigger_view
from kubeasset.reconcile.trigger_runs import SCHEDULE_LABEL, SENSOR_LABEL

log = logging.getLogger("kubeasset.controller")

CODE_LOCATION: Final = "CodeLocation"
ASSET_JOB: Final = "AssetJob"
ASSET_RUN: Final = "AssetRun"
ASSET_SCHEDULE: Final = "AssetSchedule"
ASSET_SENSOR: Final = "AssetSensor"
#: How long a burst of Asset changes is collected before the jobs they concern are resolved again.
CATALOG_DEBOUNCE_SECONDS: Final = 1.0
#: A retry this far off is worth telling the person about at once.
SLOW_RETRY_SECONDS: Final = 60.0
#: Reason of the Warning Event posted when a reconcile fails in a way retries cannot fix.
RECONCILE_FAILED: Final = "ReconcileFailed"


@dataclass
class DiscoveryMemory:
    """What the controller remembers of discovery Pods: parsed results by Pod uid (a finished Pod's log is
    read and parsed once), how often reading a log failed, and what it knows of the location's catalog
    (which Assets are in sync with the graph, which generations it wrote itself)."""

    results: dict[str, DiscoveryResult] = field(default_factory=dict)
    log_failures: dict[str, int] = field(default_factory=dict)
    catalog: CatalogMemo = field(default_factory=CatalogMemo)

    def keep_only(self, uids: set[str]) -> None:
        for uid in [uid for uid in self.results if uid not in uids]:
            del self.results[uid]
        for uid in [uid for uid in self.log_failures if uid not in uids]:
            del self.log_failures[uid]


class Controller:
    """Example (what kubeasset.controller.operator does)::

    controller = Controller(KubeIO(configuration))
    controller.start_queue({CODE_LOCATION: ..., ASSET_JOB: ...})
    """

    def __init__(
        self,
        io: KubeIO,
        *,
        discovery_defaults: DiscoveryDefaults | None = None,
        clock: Callable[[], datetime] | None = None,
        workers: int = 8,
        run_pod_defaults: RunPodDefaults | None = None,
        max_concurrent_runs: int | None = None,
        metrics: ControllerMetrics | None = None,
    ) -> None:
        self.io = io
        #: Prometheus metrics (its own registry); the scrape-time gauges read this cache and queue.
        self.metrics = metrics or ControllerMetrics()
        self.events = EventRecorder(io)
        self.cache = Cache()
        #: Opens when every cache is filled; the work queue waits for it.
        self.startup = StartupGate()
        self.discovery_defaults = discovery_defaults or DiscoveryDefaults()
        self.discovery: dict[tuple[str, str], DiscoveryMemory] = {}
        self._clock = clock or (lambda: datetime.now(UTC))
        self._workers = workers
        self._asset_generations: dict[str, int | None] = {}
        self._job_shapes: dict[tuple[str, str], object] = {}  # job_changed: what its dependents read of it
        self._trigger_views: dict[tuple[str, str], tuple[object, ...]] = {}  # run_changed: see trigger_view
        self.queue: WorkQueue | None = None
        #: AssetRuns: controller-wide run Pod defaults, live log followers, per-run memory, own writes.
        self.run_pod_defaults = run_pod_defaults or RunPodDefaults()
        #: Runs Pending/Starting/Running at once across everything this controller watches (None: no limit).
        self.max_concurrent_runs = max_concurrent_runs
        self.run_logs = RunLogs(io, self._wake_run)
        self.run_memory: dict[tuple[str, str], RunMemory] = {}
        self.written = WrittenObjects()

    def now(self) -> datetime:
        return self._clock()

    def make_queue(self, reconcilers: Mapping[str, Reconcile]) -> WorkQueue:
        self.queue = WorkQueue(reconcilers, workers=self._workers, on_error=self._report_error, observer=self.metrics)
        self.metrics.watch(self.cache.all_runs, self.queue.depth)
        return self.queue

    def _add(self, key: ObjectKey, delay: float = 0.0) -> None:
        assert self.queue is not None, "the work queue starts before kopf delivers events"
        self.queue.add(key, delay)

    # --- routing ----------------------------------------------------------------------------------------

    def location_changed(self, namespace: str, name: str) -> None:
        self._add(ObjectKey(CODE_LOCATION, namespace, name))
        for job in self.cache.jobs_of(namespace, name):
            self._add(ObjectKey(ASSET_JOB, namespace, job))

    def job_changed(self, namespace: str, name: str) -> None:
        """A job changed: it, its Pending runs, and the schedules and sensors that start it (readiness:
        Ready=False while the job is missing or not ready; ticks and runs held back meanwhile start once it is).
        A change of only ``status.lastRun`` (the controller's own write as its runs move) concerns no one."""
        job = self.cache.job(namespace, name)
        shape = (
            None
            if job is None
            else (
                job.metadata.generation,
                job.metadata.deletion_timestamp,
                job.status.model_dump(exclude={"last_run"}) if job.status is not None else None,
            )
        )
        if job is not None and self._job_shapes.get((namespace, name)) == shape:
            return
        if job is None:
            self._job_shapes.pop((namespace, name), None)
        else:
            self._job_shapes[(namespace, name)] = shape
        self._add(ObjectKey(ASSET_JOB, namespace, name))
        # Runs held back while the job was not ready (JobNotReady, ...) start as soon as it is, not at their
        # next periodic look.
        for run in self.cache.runs_of_job(namespace, name):
            if run.status is None or run.status.phase in (None, RunPhase.PENDING):
                self._add(ObjectKey(ASSET_RUN, namespace, run.metadata.name or ""))
        for schedule in self.cache.schedules_of_job(namespace, name):
            self._add(ObjectKey(ASSET_SCHEDULE, namespace, schedule))
        for sensor in self.cache.sensors_of_job(namespace, name):
            self._add(ObjectKey(ASSET_SENSOR, namespace, sensor))

    def discovery_pod_changed(self, namespace: str, location: str | None) -> None:
        if location:
            self._add(ObjectKey(CODE_LOCATION, namespace, location))

    def asset_changed(
        self, event_type: str | None, namespace: str, location: str | None, uid: str, generation: int | None
    ) -> None:
        """An Asset event: any change concerns the sensors watching its location's jobs; only spec changes
        (new, deleted, another generation) concern the jobs and the location."""
        memory = self.discovery.get((namespace, location)) if location else None
        if event_type == "DELETED":
            self._asset_generations.pop(uid, None)
            if memory is not None:
                memory.catalog.forget(uid)
            structural, repair = True, True
        else:
            known = uid in self._asset_generations
            previous = self._asset_generations.get(uid)
            self._asset_generations[uid] = generation
            # The initial listing (type None) only records generations: every location and job is
            # listed too and reconciled for its own sake.
            structural = event_type is not None and (not known or previous != generation)
            # A generation the controller wrote itself (a discovery updating the catalog) needs no repair.
            # Should its event come before the write's answer, the repair finds the catalog in sync.
            own = memory is not None and memory.catalog.wrote(uid, generation)
            repair = known and previous != generation and not own
        if not location:
            return
        jobs = self.cache.jobs_of(namespace, location)
        # Sensors watch materializations: a catalog status change (not only a spec change) concerns them.
        for job in jobs:
            for sensor in self.cache.sensors_of_job(namespace, job):
                self._add(ObjectKey(ASSET_SENSOR, namespace, sensor))
        if not structural:
            return
        for job in jobs:
            self._add(ObjectKey(ASSET_JOB, namespace, job), CATALOG_DEBOUNCE_SECONDS)
        if repair:
            self._add(ObjectKey(CODE_LOCATION, namespace, location), CATALOG_DEBOUNCE_SECONDS)

    def run_changed(self, namespace: str, name: str, run: AssetRun, event_type: str | None = None) -> None:
        """A run changed: it, its job (last run, runs waiting for a concurrency slot) and the schedule or
        sensor that created it look again. A run that finished or is deleted frees a concurrency slot: the
        runs first in line for one (of its job; of the controller-wide limit) look again. The run itself
        does not look again at its own status write coming back (it planned that status)."""
        own = event_type == "MODIFIED" and self.written.wrote(
            ASSET_RUN, namespace, name, version=run.metadata.resource_version
        )
        if not own:
            self._add(ObjectKey(ASSET_RUN, namespace, name))
        deleted = event_type == "DELETED"
        if deleted:
            self.metrics.forget_run(run.metadata.uid or "")
        else:
            self.metrics.run_seen(run)  # starts its launch-latency clock
        phase = run.status.phase if run.status else None
        # The first listing (event_type None) frees nothing: every listed run is queued for its own sake,
        # and waking the first waiting runs per listed finished run would scan the job's runs each time.
        freed = event_type is not None and (
            deleted or run.metadata.deletion_timestamp is not None or (phase and phase.is_finished)
        )
        if run.spec.job:
            job = self.cache.job(namespace, run.spec.job)
            shown = job.status.last_run if job is not None and job.status is not None else None
            shown_run = self.cache.run(namespace, shown.name) if shown is not None else None
            # Most run events (its own status writes) leave the job's lastRun as it is: no job reconcile.
            if job is not None and last_run_may_change(shown, run, deleted=deleted, shown_run=shown_run):
                self._add(ObjectKey(ASSET_JOB, namespace, run.spec.job), LAST_RUN_DEBOUNCE_SECONDS)
            if freed and job is not None and job.spec.max_concurrent_runs:
                self._wake_first_waiting(self.cache.runs_of_job(namespace, run.spec.job), job.spec.max_concurrent_runs)
        if freed and self.max_concurrent_runs:
            self._wake_first_waiting(self.cache.unfinished_runs(), self.max_concurrent_runs)
        labels = run.metadata.labels or {}
        if not (labels.get(SCHEDULE_LABEL) or labels.get(SENSOR_LABEL)):
            return
        # Its schedule or sensor looks again only when what its plan reads of the run moved.
        if deleted:
            self._trigger_views.pop((namespace, name), None)
        else:
            view = trigger_view(run)
            if self._trigger_views.get((namespace, name)) == view:
                return
            self._trigger_views[(namespace, name)] = view
        if labels.get(SCHEDULE_LABEL):
            self._add(ObjectKey(ASSET_SCHEDULE, namespace, labels[SCHEDULE_LABEL]))
        if labels.get(SENSOR_LABEL):
            self._add(ObjectKey(ASSET_SENSOR, namespace, labels[SENSOR_LABEL]))

    def run_pod_changed(self, event_type: str | None, namespace: str, run: str | None, pod: dict[str, Any]) -> None:
        """A run Pod changed: its AssetRun looks again, and its log follower learns of it (a Pod whose
        container started is followed, unless its run is already final)."""
        self.run_logs.pod_changed(event_type, pod)
        if run:
            found = self.cache.run(namespace, run)
            phase = found.status.phase if found is not None and found.status else None
            if event_type != "DELETED" and not (phase and phase.is_finished):
                self.run_logs.follow(pod, run)
            self._add(ObjectKey(ASSET_RUN, namespace, run))

    def _wake_first_waiting(self, runs: list[AssetRun], limit: int) -> None:
        for waiting in first_waiting(runs, limit):
            self._add(ObjectKey(ASSET_RUN, waiting.metadata.namespace or "", waiting.metadata.name or ""))

    def _wake_run(self, namespace: str, name: str, delay: float) -> None:
        if self.queue is not None:
            self.queue.add(ObjectKey(ASSET_RUN, namespace, name), delay)

    def schedule_changed(self, namespace: str, name: str, version: str | None = None) -> None:
        """A schedule changed: it looks again, unless this is its own status write coming back (the
        reconcile that wrote it planned that status and its next tick already)."""
        if not self.written.wrote(ASSET_SCHEDULE, namespace, name, version=version):
            self._add(ObjectKey(ASSET_SCHEDULE, namespace, name))

    def sensor_changed(self, namespace: str, name: str, version: str | None = None) -> None:
        """A sensor changed: it looks again, unless this is its own status write coming back."""
        if not self.written.wrote(ASSET_SENSOR, namespace, name, version=version):
            self._add(ObjectKey(ASSET_SENSOR, namespace, name))

    # --- failures ---------------------------------------------------------------------------------------

    async def _report_error(
        self, key: ObjectKey, error: kopf.TemporaryError | kopf.PermanentError, attempt: int
    ) -> None:
        """A Warning Event on the object for failures a person should see: permanent ones, temporary ones
        that keep failing (the third attempt in a row) or that wait long (a minute or more: Forbidden,
        someone else's object in the way). The Event recorder dedupes repeats."""
        if isinstance(error, kopf.TemporaryError) and attempt < 3 and (error.delay or 0.0) < SLOW_RETRY_SECONDS:
            return
        lookups: dict[str, Callable[[str, str], KubeResource | None]] = {
            CODE_LOCATION: self.cache.location,
            ASSET_JOB: self.cache.job,
            ASSET_RUN: self.cache.run,
            ASSET_SCHEDULE: self.cache.schedule,
            ASSET_SENSOR: self.cache.sensor,
        }
        lookup = lookups.get(key.kind)
        resource = lookup(key.namespace, key.name) if lookup is not None else None
        if resource is None:
            return
        suffix = "" if isinstance(error, kopf.PermanentError) else f" (attempt {attempt}, retrying)"
        await self.events.record(involved(resource), Event(EventType.WARNING, RECONCILE_FAILED, f"{error}{suffix}"))


def involved(resource: KubeResource) -> dict[str, Any]:
    """The identity of an object for an Event's involvedObject (a body with apiVersion, kind, metadata)."""
    metadata = resource.metadata
    return {
        "apiVersion": resource.api_version,
        "kind": resource.crd.kind,
        "metadata": {
            "name": metadata.name,
            "namespace": metadata.namespace,
            "uid": metadata.uid,
            "resourceVersion": metadata.resource_version,
        },
    }

"""The one planner of an AssetRun: from the run and everything observed about it, the Pod to create or
delete, the full desired status, the Events, the catalog updates, the retry run to create and the runs
of the job to delete. Pure and level-based: the same observation always gives the same plan.

Rules (tests/unit/reconcile/test_asset_run*.py):

* phases Pending -> Starting -> Running -> Succeeded | Failed | Canceled; **a final phase never
  changes** (a Succeeded run stays Succeeded when its Pod disappears later); only ``observedGeneration``,
  the ``Retried`` condition, the clean-up of a Pod still running and the history limits act on it;
* before its Pod exists a run waits in Pending, requeued every WAIT_REQUEUE_SECONDS, for as long as it
  takes (as Argo does): JobNotFound, JobNotReady (also while the job has not resolved its current spec
  or its location's current graph), CodeLocationNotFound, CodeLocationNotReady, ResolvingSelection
  (the controller has not resolved ``spec.selection`` yet), WaitingForConcurrency (run_queue), and
  OldPodExists (a Pod of that name belongs to an earlier run of the same name: it is never adopted);
* a run whose own spec cannot work fails at once: InvalidSelection, EmptySelection, TooManyAssets,
  InvalidPod (build_run_pod's RunPodError). These are never retried;
* the plan that creates the Pod also makes the run Starting, with the status that observing the
  just-created Pod gives (podName, image, "not running yet"), so the Pod's creation costs one status
  write and its first observation none; the controller applies it only after the create succeeded (the
  API server's answer is the first observation), and a Pod missing later, while the run is Starting or
  Running, was deleted: Failed/Deleted (the controller confirms a Pod missing from its cache with a GET).
  A run that never waited gets no RunQueued Event, only PodCreated. (CreatingPod, Pending with the Pod
  asked for, is what an earlier controller wrote; it still holds the run's slot.) From then on the keys
  come from the Pod's own KUBEASSET_ASSETS, so a job changed meanwhile changes nothing;
* while the Pod exists the status is run_progress's fold of the runner's events, its summary and the
  Pod (classify_pod, with the job's startTimeoutSeconds); a Pod still running RUN_TIMEOUT_GRACE_SECONDS
  after its activeDeadlineSeconds (a kubelet that did not enforce it) ends the run DeadlineExceeded;
* ``spec.cancel``: before the Pod exists the run is Canceled at once (its assets Canceled); with a Pod,
  the Pod is deleted and the run stays in its phase (reason Canceling, message "canceling: ...") until
  the Pod has stopped, then Canceled with its unfinished assets Canceled;
* a final run whose Pod has not stopped (start timeout, run timeout, InvalidImageName, a cancel that
  raced the Pod's creation) gets its Pod deleted; a Pod that ended is kept for ``kubectl logs`` and is
  garbage-collected with its run, or deleted earlier, after the controller's Pod clean-up delay counted
  from the run's completion (Helm ``controller.podCleanup``; succeeded and failed runs apart);
* WaitingForConcurrency applies the job's maxConcurrentRuns and then the controller-wide limit (run_queue);
* Events: run_events (one per phase entered, exactly once); retries: run_retry; history: run_history.

The controller applies a plan in this order: create the Pod / the retry run (409 AlreadyExists is
success), write the catalog updates, patch the status (only when it differs), emit the Events, then
delete (Pod, runs; 404 is success, the uid is a precondition). A crash anywhere is repaired by planning
again: everything before the status patch is idempotent, and Events follow the status.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from kubeasset.api.assetjob import AssetJob
from kubeasset.api.assetrun import AssetRun, AssetRunState, AssetRunStatus, RunAssetStatus, RunSummary
from kubeasset.api.codelocation import CodeLocation
from kubeasset.api.conditions import (
    CONDITION_REASON_PATTERN,
    READY,
    RECONCILING,
    STALLED,
    SUCCEEDED,
    Condition,
    ConditionStatus,
    find_condition,
    remove_condition,
    set_condition,
)
from kubeasset.api.runs import RunPhase
from kubeasset.api.types import MAX_ASSETS
from kubeasset.errors import RunPodError
from kubeasset.reconcile.naming import run_pod_name
from kubeasset.reconcile.plan_items import Event, EventType, ObjectId
from kubeasset.reconcile.pod_outcome import PodOutcome, PodOutcomeKind, classify_pod, format_duration
from kubeasset.reconcile.run_catalog import CatalogUpdate, catalog_updates
from kubeasset.reconcile.run_events import (
    RETRY_NOT_POSSIBLE,
    RUN_RETRIED,
    event,
    lifecycle_rank,
    transition_events,
)
from kubeasset.reconcile.run_history import belongs_to_job, job_history_deletions
from kubeasset.reconcile.run_pod import ENV_ASSETS, RUN_CONTAINER_NAME, RunPodDefaults, build_run_pod
from kubeasset.reconcile.run_progress import fold_run_progress
from kubeasset.reconcile.run_queue import CREATING_POD, WAITING_FOR_CONCURRENCY, concurrency_wait
from kubeasset.reconcile.run_retry import RETRIED, RETRY_CREATED, decide_retry, run_attempt, within_window
from kubeasset.reconcile.status_bounds import cut_message
from kubeasset.reconcile.trigger_runs import job_readiness
from kubeasset.sdk.events import ExecutionEvent
from kubeasset.sdk.runner_protocol import RunSummary as RunnerSummary

# Reasons of the Succeeded condition (and of Events) that this planner decides; the others come from
# run_progress (Running, Succeeded, AssetsFailed, OOMKilled, Evicted, Deleted, StartTimeout, ...).
JOB_NOT_FOUND: Final = "JobNotFound"
JOB_NOT_READY: Final = "JobNotReady"
CODE_LOCATION_NOT_FOUND: Final = "CodeLocationNotFound"
CODE_LOCATION_NOT_READY: Final = "CodeLocationNotReady"
RESOLVING_SELECTION: Final = "ResolvingSelection"
OLD_POD_EXISTS: Final = "OldPodExists"
INVALID_SELECTION: Final = "InvalidSelection"
EMPTY_SELECTION: Final = "EmptySelection"
TOO_MANY_ASSETS: Final = "TooManyAssets"
INVALID_POD: Final = "InvalidPod"
CANCELED: Final = "Canceled"
CANCELING: Final = "Canceling"
DEADLINE_EXCEEDED: Final = "DeadlineExceeded"
#: Pending reasons that need a person (a Warning Event is emitted when a run starts waiting for one).
BLOCKING_REASONS: Final = frozenset(
    {JOB_NOT_FOUND, JOB_NOT_READY, CODE_LOCATION_NOT_FOUND, CODE_LOCATION_NOT_READY, OLD_POD_EXISTS}
)

#: How often a waiting run looks again (changes of its job, location and sibling runs also wake it).
WAIT_REQUEUE_SECONDS: Final = 30.0
#: How often a run waiting for a concurrency slot looks again without being woken.
CONCURRENCY_REQUEUE_SECONDS: Final = 300.0
#: How long past its activeDeadlineSeconds a Pod may still run before the controller stops it itself.
RUN_TIMEOUT_GRACE_SECONDS: Final = 60
_REASON_RE: Final = re.compile(CONDITION_REASON_PATTERN)


@dataclass(frozen=True)
class RunObservation:
    """Everything the controller observed about one run, for :func:`plan_asset_run`.

    Example::

        RunObservation(job=job, location=location, pod=pod, events=events, summary=summary,
                       job_runs=runs_of_job, defaults=RunPodDefaults())
    """

    job: AssetJob | None = None
    """The run's AssetJob (None for an ad-hoc run, or when it does not exist)."""
    location: CodeLocation | None = None
    """The CodeLocation: the job's ``spec.codeLocation``, or the ad-hoc run's."""
    selected_keys: Sequence[str] | None = None
    """``spec.selection`` resolved over the location's graph (resolve_selection, dependencies first);
    None when the run has no selection, or it could not be resolved yet (no graph)."""
    selection_error: str | None = None
    """The SelectionError message when ``spec.selection`` does not resolve (syntax, unknown key)."""
    pod: Mapping[str, Any] | None = None
    """The run's Pod as the API server returns it (a dict), None when there is none."""
    pod_seen: bool = False
    """The controller has seen the Pod before (besides what the status says: Starting or Running)."""
    events: Sequence[ExecutionEvent] = ()
    """Every runner event read from the Pod's log so far, in log order."""
    unreadable_lines: int = 0
    """Event lines that did not parse."""
    summary: RunnerSummary | None = None
    """The parsed termination summary, once the container has terminated with one."""
    job_runs: Sequence[AssetRun] = ()
    """The runs of the same job (same namespace), for maxConcurrentRuns and the history limits."""
    max_concurrent_runs: int | None = None
    """The controller-wide limit of unfinished runs (Helm ``controller.maxConcurrentRuns``); None: none."""
    unfinished_runs: Sequence[AssetRun] = ()
    """Every unfinished run the controller watches (all namespaces), for ``max_concurrent_runs``."""
    defaults: RunPodDefaults = field(default_factory=RunPodDefaults)
    """Controller-wide Pod defaults (Helm values)."""
    code_versions: Mapping[str, str | None] | None = None
    """Asset key -> the code version of its definition (Asset objects), for catalog updates."""


@dataclass(frozen=True)
class RunPlan:
    """What the controller does for one run; see the module docstring for the order."""

    status: AssetRunStatus
    """The desired full status (patch it only when it differs from the stored one)."""
    pod_to_create: dict[str, Any] | None = None
    pod_to_delete: ObjectId | None = None
    retry_run: dict[str, Any] | None = None
    """A new AssetRun manifest to create (the retry of this failed run)."""
    runs_to_delete: tuple[ObjectId, ...] = ()
    """Finished runs of the job beyond its history limits (may include this run)."""
    catalog: tuple[CatalogUpdate, ...] = ()
    events: tuple[Event, ...] = ()
    requeue_after: float | None = None
    """Plan again after this many seconds even if nothing changes (timeouts, retry backoff, waiting)."""


def plan_asset_run(run: AssetRun, observed: RunObservation, now: datetime) -> RunPlan:
    """Plan ``run`` (as read from the API server) given ``observed`` at ``now`` (aware, UTC).

    Example::

        plan = plan_asset_run(run, RunObservation(job=job, location=location, pod=pod), now)
        if plan.pod_to_create: create_pod(plan.pod_to_create)
        if plan.status != run.status: patch_status(plan.status)
    """
    return _Planner(run, observed, now).plan()


@dataclass(frozen=True)
class _Resolution:
    keys: tuple[str, ...] | None = None
    wait: tuple[str, str] | None = None
    failure: tuple[str, str] | None = None


class _Planner:
    def __init__(self, run: AssetRun, observed: RunObservation, now: datetime) -> None:
        self.run = run
        self.observed = observed
        self.now = now
        self.old = run.status or AssetRunStatus()
        self.name = run.metadata.name or ""
        self.generation = run.metadata.generation

    # --- the decision ------------------------------------------------------------------------------

    def plan(self) -> RunPlan:
        if self.old.phase is not None and self.old.phase.is_finished:
            return self._finished(self._regenerated(self.old), catalog=(), requeue=None)
        pod = self.observed.pod
        if pod is not None and not _owned_by(pod, self.run):
            if self.run.spec.cancel:
                return self._ended_without_pod(RunPhase.CANCELED, CANCELED, "canceled before its Pod was created")
            message = (
                f"a Pod named {_pod_name(pod)} from an earlier AssetRun of the same name still exists; "
                "waiting for Kubernetes to delete it (it is owned by the earlier run)"
            )
            return self._waiting(OLD_POD_EXISTS, message)
        seen = self.observed.pod_seen or self.old.phase in (RunPhase.STARTING, RunPhase.RUNNING)
        if pod is not None or seen:
            return self._with_pod(pod, seen)
        return self._before_pod()

    def _before_pod(self) -> RunPlan:
        resolution = self._resolve()
        if self.run.spec.cancel:
            return self._ended_without_pod(
                RunPhase.CANCELED, CANCELED, "canceled before its Pod was created", resolution.keys
            )
        if resolution.failure is not None:
            reason, message = resolution.failure
            return self._ended_without_pod(RunPhase.FAILED, reason, message, resolution.keys)
        if resolution.wait is not None or resolution.keys is None:
            reason, message = resolution.wait or (RESOLVING_SELECTION, "resolving the run's selection")
            return self._waiting(reason, message)
        keys = resolution.keys
        job, location = self.observed.job, self.observed.location
        assert location is not None  # _resolve waits for it
        # A run that has asked for its Pod keeps its slot (holds_slot): it never goes back to waiting.
        asked = self._old_reason() == CREATING_POD
        wait = concurrency_wait(
            self.run,
            limit=job.spec.max_concurrent_runs if job is not None else None,
            job_name=self.run.spec.job or "",
            job_runs=self.observed.job_runs,
        ) or concurrency_wait(
            self.run,
            limit=self.observed.max_concurrent_runs,
            job_name=self.run.spec.job or "",
            job_runs=self.observed.unfinished_runs,
            controller_wide=True,
        )
        if wait is not None and not asked:
            return self._waiting(WAITING_FOR_CONCURRENCY, wait.message, keys)
        try:
            manifest = build_run_pod(
                self.run, job=job, location=location, asset_keys=keys, settings=self.observed.defaults
            )
        except RunPodError as error:
            return self._ended_without_pod(RunPhase.FAILED, INVALID_POD, str(error), keys)
        # One status write per Pod creation: the status says Starting with the Pod's name at once, exactly
        # what planning the just-created Pod gives when it is observed (so that observation writes nothing).
        created = self._with_pod(_as_created(manifest, self.now), seen=True)
        if created.status.phase == RunPhase.STARTING and created.pod_to_delete is None:
            return dataclasses.replace(created, pod_to_create=manifest)
        count = len(keys)  # e.g. a start timeout of 0: the Pod is asked for first, then judged
        status = self._status(
            phase=RunPhase.PENDING,
            reason=CREATING_POD,
            message=f"creating Pod {manifest['metadata']['name']} to run {count} asset{'s' if count != 1 else ''}",
            assets=[RunAssetStatus(key=key) for key in keys],
            image=_image(manifest),
        )
        return self._plan(status, pod_to_create=manifest, requeue=WAIT_REQUEUE_SECONDS)

    def _with_pod(self, pod: Mapping[str, Any] | None, seen: bool) -> RunPlan:
        keys = _pod_asset_keys(pod) if pod is not None else None
        if keys is None:
            keys = [asset.key for asset in self.old.assets or ()]
        outcome = classify_pod(
            pod,
            now=self.now,
            start_timeout_seconds=self._start_timeout(),
            container=RUN_CONTAINER_NAME,
            previously_seen=seen,
        )
        deadline = _run_deadline(pod, outcome) if pod is not None else None
        running = outcome.kind in (PodOutcomeKind.RUNNING, PodOutcomeKind.UNKNOWN)
        if deadline is not None and running and self.now >= deadline:
            outcome = _deadline_exceeded(pod or {}, outcome)
        observed = self.observed
        progress = fold_run_progress(
            keys,
            observed.events,
            observed.summary,
            outcome,
            self.now,
            unreadable_lines=observed.unreadable_lines,
            cancel_requested=self.run.spec.cancel,
            previous=self.old.assets or (),
        )
        phase, reason, message = progress.phase, progress.reason, progress.message
        pod_to_delete = None
        if not phase.is_finished:
            if lifecycle_rank(self.old.phase) > lifecycle_rank(phase):
                phase = self.old.phase or phase  # never back from Running to Starting
            if self.run.spec.cancel:
                reason, message = CANCELING, f"canceling: {message}"
                if pod is not None and not _deleting(pod):
                    pod_to_delete = _pod_id(pod)
        elif pod is not None and _still_running(pod):
            pod_to_delete = _pod_id(pod)
        status = self._status(
            phase=phase,
            reason=reason,
            message=message,
            assets=list(progress.assets),
            pod_name=_pod_name(pod) if pod is not None else (self.old.pod_name or run_pod_name(self.name)),
            image=_image(pod) if pod is not None else None,
            start_time=progress.start_time,
            completion_time=progress.completion_time,
        )
        catalog = catalog_updates(progress, run_name=self.name, code_versions=observed.code_versions)
        requeue = None
        if not phase.is_finished and pod is not None:
            requeue = self._pod_requeue(pod, outcome, deadline)
        if phase.is_finished:
            return self._finished(status, catalog=catalog, requeue=None, pod_to_delete=pod_to_delete)
        return self._plan(status, pod_to_delete=pod_to_delete, catalog=catalog, requeue=requeue)

    def _finished(
        self,
        status: AssetRunStatus,
        *,
        catalog: tuple[CatalogUpdate, ...],
        requeue: float | None,
        pod_to_delete: ObjectId | None = None,
    ) -> RunPlan:
        """The actions of a run whose new status is final: Pod clean-up, retry, history."""
        pod = self.observed.pod
        if pod_to_delete is None and pod is not None and _owned_by(pod, self.run) and _still_running(pod):
            pod_to_delete = _pod_id(pod)
        elif pod_to_delete is None and pod is not None and _owned_by(pod, self.run) and not _deleting(pod):
            cleanup_at = self._pod_cleanup_time(status)
            if cleanup_at is not None and self.now >= cleanup_at:
                pod_to_delete = _pod_id(pod)
            elif cleanup_at is not None:
                requeue = _earliest(requeue, (cleanup_at - self.now).total_seconds())
        job = self.observed.job
        transition = not (self.old.phase is not None and self.old.phase.is_finished)
        extra: list[Event] = []
        retry_manifest = None
        note = None
        if find_condition(status.conditions, RETRIED) is None:
            decision = decide_retry(self.run, status, job)
            note = decision.note
            if decision.problem is not None and transition:
                extra.append(event(EventType.WARNING, RETRY_NOT_POSSIBLE, f"not retried: {decision.problem}"))
            if decision.manifest is not None and decision.name is not None and within_window(decision.due, self.now):
                if decision.due is None or self.now >= decision.due:
                    retry_manifest = decision.manifest
                    message = f"retried as run {decision.name} (attempt {decision.attempt})"
                    conditions = set_condition(
                        status.conditions,
                        RETRIED,
                        ConditionStatus.TRUE,
                        reason=RETRY_CREATED,
                        message=message,
                        now=self.now,
                        observed_generation=self.generation,
                    )
                    status = status.model_copy(update={"conditions": conditions})
                    extra.append(event(EventType.NORMAL, RUN_RETRIED, message))
                else:
                    requeue = _earliest(requeue, (decision.due - self.now).total_seconds())
        deletions: tuple[ObjectId, ...] = ()
        # Only a run the history limits apply to prunes its job's history: every such run does when it
        # finishes, which keeps the history within the limits. (Each finished run computing it over all
        # the job's runs made a restart over 5,000 hand-applied finished runs quadratic.)
        if job is not None and belongs_to_job(self.run, job):
            others = [other for other in self.observed.job_runs if other.metadata.name != self.name]
            deletions = job_history_deletions(job, [*others, self.run.model_copy(update={"status": status})], self.now)
        return self._plan(
            status,
            pod_to_delete=pod_to_delete,
            retry_run=retry_manifest,
            runs_to_delete=deletions,
            catalog=catalog,
            requeue=requeue,
            failure_note=note if transition else None,
            extra_events=extra,
        )

    def _pod_cleanup_time(self, status: AssetRunStatus) -> datetime | None:
        """When the stopped Pod of this finished run is deleted (controller setting; None: kept with the
        run). Counted from the run's completion, so a restart of the controller does not reset it."""
        defaults = self.observed.defaults
        after = (
            defaults.delete_succeeded_pod_after_seconds
            if status.phase == RunPhase.SUCCEEDED
            else defaults.delete_failed_pod_after_seconds
        )
        if after is None:
            return None
        return (status.completion_time or self.now) + timedelta(seconds=after)

    # --- what the run needs before its Pod --------------------------------------------------------

    def _resolve(self) -> _Resolution:
        run, observed = self.run, self.observed
        location = observed.location
        if run.spec.job is not None:
            job = observed.job
            blocked = job_readiness(job, run.spec.job)
            if blocked is not None:
                return _Resolution(wait=blocked)
            assert job is not None and job.status is not None  # job_readiness: it exists and is Ready
            stale = self._stale_job(job, location)
            if stale is not None:
                return _Resolution(wait=(JOB_NOT_READY, stale))
            location_wait = _location_wait(location, job.spec.code_location)
            if location_wait is not None:
                return _Resolution(wait=location_wait)
            job_keys = list(job.status.assets or ())
            if run.spec.selection is None:
                return _Resolution(keys=tuple(job_keys))
            selected = self._selected()
            if selected.keys is None:
                return selected
            chosen = set(selected.keys)
            keys = tuple(key for key in job_keys if key in chosen)
            if not keys:
                return _Resolution(
                    failure=(
                        EMPTY_SELECTION,
                        f"spec.selection {run.spec.selection!r} selects none of the {len(job_keys)} assets of "
                        f"job {run.spec.job!r}",
                    )
                )
            return _Resolution(keys=keys)
        location_wait = _location_wait(location, run.spec.code_location or "")
        if location_wait is not None:
            return _Resolution(wait=location_wait)
        selected = self._selected()
        if selected.keys is None:
            return selected
        if not selected.keys:
            return _Resolution(
                failure=(
                    EMPTY_SELECTION,
                    f"spec.selection {run.spec.selection!r} matches no asset of code location "
                    f"{run.spec.code_location!r}",
                )
            )
        if len(selected.keys) > MAX_ASSETS:
            return _Resolution(
                failure=(
                    TOO_MANY_ASSETS,
                    f"spec.selection selects {len(selected.keys)} assets; a run runs at most {MAX_ASSETS}: "
                    "narrow the selection or split the run",
                )
            )
        return selected

    def _selected(self) -> _Resolution:
        observed = self.observed
        if observed.selection_error is not None:
            return _Resolution(failure=(INVALID_SELECTION, f"spec.selection is invalid: {observed.selection_error}"))
        if observed.selected_keys is None:
            return _Resolution(wait=(RESOLVING_SELECTION, "resolving spec.selection against the code location's graph"))
        return _Resolution(keys=tuple(dict.fromkeys(observed.selected_keys)))

    def _stale_job(self, job: AssetJob, location: CodeLocation | None) -> str | None:
        """Why the job's resolved list may be out of date (it has not caught up with its spec or graph)."""
        status = job.status
        assert status is not None
        if job.metadata.generation is not None and status.observed_generation != job.metadata.generation:
            return f"AssetJob {job.metadata.name!r} has not resolved its current spec yet"
        graph = location.status.assets.graph_hash if location and location.status and location.status.assets else None
        if graph is not None and status.graph_hash is not None and graph != status.graph_hash:
            return f"AssetJob {job.metadata.name!r} has not resolved against the new graph of its code location yet"
        return None

    def _old_reason(self) -> str | None:
        condition = find_condition(self.old.conditions, SUCCEEDED)
        return condition.reason if condition is not None else None

    def _start_timeout(self) -> int | None:
        job = self.observed.job
        if job is not None and job.spec.start_timeout_seconds is not None:
            return job.spec.start_timeout_seconds
        return self.observed.defaults.start_timeout_seconds

    def _pod_requeue(self, pod: Mapping[str, Any], outcome: PodOutcome, deadline: datetime | None) -> float | None:
        if outcome.kind in (PodOutcomeKind.PENDING, PodOutcomeKind.NOT_STARTING):
            timeout, created = self._start_timeout(), _time(_mapping(pod.get("metadata")).get("creationTimestamp"))
            if timeout is not None and created is not None:
                return max(0.0, (created + timedelta(seconds=timeout) - self.now).total_seconds())
            return None
        if deadline is not None and outcome.kind in (PodOutcomeKind.RUNNING, PodOutcomeKind.UNKNOWN):
            return max(0.0, (deadline - self.now).total_seconds())
        return None

    # --- statuses ---------------------------------------------------------------------------------

    def _waiting(self, reason: str, message: str, keys: Sequence[str] | None = None) -> RunPlan:
        assets = [RunAssetStatus(key=key) for key in keys] if keys is not None else None
        status = self._status(phase=RunPhase.PENDING, reason=reason, message=message, assets=assets)
        # A run waiting for a slot is woken when one frees up (controller.runtime); the long requeue is only a
        # safety net, as each look at hundreds of queued runs costs a reconcile.
        requeue = CONCURRENCY_REQUEUE_SECONDS if reason == WAITING_FOR_CONCURRENCY else WAIT_REQUEUE_SECONDS
        return self._plan(status, requeue=requeue)

    def _ended_without_pod(
        self, phase: RunPhase, reason: str, message: str, keys: Sequence[str] | None = None
    ) -> RunPlan:
        if keys is None:
            keys = [asset.key for asset in self.old.assets or ()]
        why = "the run was canceled" if phase == RunPhase.CANCELED else f"the run failed before it started ({reason})"
        assets = [
            RunAssetStatus(key=key, state=AssetRunState.CANCELED, end_time=self.now, message=f"not run: {why}")
            for key in keys
        ]
        status = self._status(phase=phase, reason=reason, message=message, assets=assets, completion_time=self.now)
        return self._finished(status, catalog=(), requeue=None)

    def _status(
        self,
        *,
        phase: RunPhase,
        reason: str,
        message: str,
        assets: Sequence[RunAssetStatus] | None,
        pod_name: str | None = None,
        image: str | None = None,
        start_time: datetime | None = None,
        completion_time: datetime | None = None,
    ) -> AssetRunStatus:
        old = self.old
        if phase == RunPhase.SUCCEEDED:
            state = ConditionStatus.TRUE
        elif phase.is_finished:
            state = ConditionStatus.FALSE
        else:
            state = ConditionStatus.UNKNOWN
        message = cut_message(message)
        condition_reason = _condition_reason(reason, phase)
        conditions = set_condition(
            old.conditions,
            SUCCEEDED,
            state,
            reason=condition_reason,
            message=message,
            now=self.now,
            observed_generation=self.generation,
        )
        conditions = self._kstatus_conditions(conditions, phase, condition_reason, message)
        listed = list(assets) if assets is not None else old.assets
        summary = RunSummary.of(listed) if listed is not None else None
        return AssetRunStatus(
            observed_generation=self.generation,
            conditions=conditions,
            phase=phase,
            message=message,
            pod_name=pod_name or old.pod_name,
            image=image or old.image,
            start_time=start_time or old.start_time,
            completion_time=(completion_time or self.now) if phase.is_finished else None,
            attempts=run_attempt(self.run),
            assets=listed,
            summary=summary,
            progress=summary.progress if summary is not None else None,
        )

    def _kstatus_conditions(
        self, conditions: list[Condition], phase: RunPhase, reason: str, message: str
    ) -> list[Condition]:
        """Reconciling while unfinished, Stalled once failed or canceled, neither once succeeded."""
        if not phase.is_finished:
            conditions = remove_condition(conditions, STALLED)
            return set_condition(
                conditions,
                RECONCILING,
                ConditionStatus.TRUE,
                reason=reason,
                message=message,
                now=self.now,
                observed_generation=self.generation,
            )
        conditions = remove_condition(conditions, RECONCILING)
        if phase == RunPhase.SUCCEEDED:
            return remove_condition(conditions, STALLED)
        return set_condition(
            conditions,
            STALLED,
            ConditionStatus.TRUE,
            reason=reason,
            message=message,
            now=self.now,
            observed_generation=self.generation,
        )

    def _regenerated(self, status: AssetRunStatus) -> AssetRunStatus:
        """A final status, unchanged but for the generation it describes (tags or cancel edited later)."""
        if status.observed_generation == self.generation:
            return status
        conditions = [
            condition.model_copy(update={"observed_generation": self.generation})
            if condition.type in (SUCCEEDED, STALLED)
            else condition
            for condition in status.conditions
        ]
        return status.model_copy(update={"observed_generation": self.generation, "conditions": conditions})

    def _plan(
        self,
        status: AssetRunStatus,
        *,
        pod_to_create: dict[str, Any] | None = None,
        pod_to_delete: ObjectId | None = None,
        retry_run: dict[str, Any] | None = None,
        runs_to_delete: tuple[ObjectId, ...] = (),
        catalog: tuple[CatalogUpdate, ...] = (),
        requeue: float | None = None,
        failure_note: str | None = None,
        extra_events: Sequence[Event] = (),
    ) -> RunPlan:
        events = transition_events(self.old, status, blocking_reasons=BLOCKING_REASONS, failure_note=failure_note)
        return RunPlan(
            status=status,
            pod_to_create=pod_to_create,
            pod_to_delete=pod_to_delete,
            retry_run=retry_run,
            runs_to_delete=runs_to_delete,
            catalog=catalog,
            events=(*events, *extra_events),
            requeue_after=requeue,
        )


# --- helpers ----------------------------------------------------------------------------------------


def _location_wait(location: CodeLocation | None, name: str) -> tuple[str, str] | None:
    if location is None:
        return CODE_LOCATION_NOT_FOUND, (
            f"code location {name!r} does not exist in this namespace; create it or fix the run's or job's spec"
        )
    ready = find_condition(location.status.conditions if location.status else [], READY)
    if ready is None or ready.status != ConditionStatus.TRUE:
        detail = f": {ready.reason}: {ready.message}" if ready is not None else " (not discovered yet)"
        return CODE_LOCATION_NOT_READY, f"code location {name!r} is not ready{detail}"
    return None


def _condition_reason(reason: str, phase: RunPhase) -> str:
    """``reason`` as a condition reason (CamelCase): characters the pattern forbids are dropped."""
    if _REASON_RE.match(reason):
        return reason
    cleaned = re.sub(r"[^A-Za-z0-9_]", "", reason).lstrip("0123456789_")
    return cleaned if cleaned and _REASON_RE.match(cleaned) else str(phase)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


def _as_created(manifest: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The Pod ``manifest`` as the API server returns it on creation at ``now`` (no status yet)."""
    metadata = {**_mapping(manifest.get("metadata")), "creationTimestamp": now.isoformat()}
    return {**manifest, "metadata": metadata, "status": {"phase": "Pending"}}


def _pod_name(pod: Mapping[str, Any]) -> str:
    return str(_mapping(pod.get("metadata")).get("name") or "")


def _pod_id(pod: Mapping[str, Any]) -> ObjectId:
    metadata = _mapping(pod.get("metadata"))
    uid = metadata.get("uid")
    return ObjectId(str(metadata.get("name") or ""), str(uid) if uid else None)


def _owned_by(pod: Mapping[str, Any], run: AssetRun) -> bool:
    """Whether the Pod is this run's (its ownerReference has the run's uid), not an earlier run's."""
    uid = run.metadata.uid
    if uid is None:
        return True
    references = _mapping(pod.get("metadata")).get("ownerReferences") or ()
    return any(_mapping(reference).get("uid") == uid for reference in references)


def _deleting(pod: Mapping[str, Any]) -> bool:
    return _mapping(pod.get("metadata")).get("deletionTimestamp") is not None


def _still_running(pod: Mapping[str, Any]) -> bool:
    """A Pod that has not ended and is not being deleted: it holds a node's resources."""
    phase = _mapping(pod.get("status")).get("phase")
    return not _deleting(pod) and phase not in ("Succeeded", "Failed")


def _run_container(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    containers = [_mapping(item) for item in _mapping(pod.get("spec")).get("containers") or ()]
    return next((item for item in containers if item.get("name") == RUN_CONTAINER_NAME), {})


def _pod_asset_keys(pod: Mapping[str, Any]) -> list[str] | None:
    """The keys the Pod runs (its KUBEASSET_ASSETS): the truth once the Pod exists."""
    for item in _run_container(pod).get("env") or ():
        entry = _mapping(item)
        if entry.get("name") == ENV_ASSETS and isinstance(entry.get("value"), str):
            return [key for key in str(entry["value"]).split(",") if key]
    return None


def _image(pod: Mapping[str, Any]) -> str | None:
    image = _run_container(pod).get("image")
    return str(image) if image else None


def _run_deadline(pod: Mapping[str, Any], outcome: PodOutcome) -> datetime | None:
    """When the controller stops a Pod the kubelet did not stop at its activeDeadlineSeconds."""
    seconds = _mapping(pod.get("spec")).get("activeDeadlineSeconds")
    started = _time(_mapping(pod.get("status")).get("startTime")) or outcome.started_at
    if not isinstance(seconds, int) or isinstance(seconds, bool) or started is None:
        return None
    return started + timedelta(seconds=seconds + RUN_TIMEOUT_GRACE_SECONDS)


def _deadline_exceeded(pod: Mapping[str, Any], outcome: PodOutcome) -> PodOutcome:
    seconds = int(_mapping(pod.get("spec")).get("activeDeadlineSeconds") or 0)
    message = (
        f"Pod {_pod_name(pod)} exceeded its run timeout of {format_duration(seconds)} (runTimeoutSeconds) "
        "and did not stop by itself; the controller deleted it"
    )
    return dataclasses.replace(
        outcome, kind=PodOutcomeKind.FAILED, reason=DEADLINE_EXCEEDED, message=message, final=True
    )


def _earliest(current: float | None, candidate: float) -> float:
    candidate = max(0.0, candidate)
    return candidate if current is None else min(current, candidate)

"""The runs that schedules and sensors start, seen from the trigger: the run manifest they create, which
observed runs are theirs, and which finished ones their history limits delete.

Shared by :mod:`kubeasset.reconcile.schedule` and :mod:`kubeasset.reconcile.sensor`, which differ only in
when they start a run, so both treat their runs (labels, ownership, history, ``lastRun``) the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from kubeasset.api.assetjob import AssetJob
from kubeasset.api.assetrun import AssetRun, AssetRunSpec, RunTrigger
from kubeasset.api.conditions import READY, Condition, ConditionStatus, find_condition
from kubeasset.api.resource import KubeResource
from kubeasset.api.runs import RunPhase, RunReference
from kubeasset.reconcile.naming import COMPONENT_RUN, child_labels, owner_reference
from kubeasset.reconcile.plan_items import ObjectId

#: On runs started by a schedule / a sensor: its name (``kubectl get arun -l kubeasset.dev/schedule=nightly``).
SCHEDULE_LABEL: Final = "kubeasset.dev/schedule"
SENSOR_LABEL: Final = "kubeasset.dev/sensor"

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def owned_runs(owner: KubeResource, runs: Iterable[AssetRun]) -> list[AssetRun]:
    """The runs ``owner`` created: those with an ownerReference to it (by uid, so the runs of an earlier
    object of the same name are not counted). Only these are ever canceled or deleted by its plan."""
    uid = owner.metadata.uid
    return [
        run
        for run in runs
        if any(reference.uid == uid for reference in run.metadata.owner_references or ()) and uid is not None
    ]


def is_active(run: AssetRun) -> bool:
    """Whether ``run`` has not finished (a run without a status yet is Pending, so active)."""
    phase = run.status.phase if run.status else None
    return phase is None or not phase.is_finished


def run_phase(run: AssetRun) -> RunPhase:
    """The run's phase; Pending until the run controller has written one."""
    return (run.status.phase if run.status else None) or RunPhase.PENDING


def job_readiness(job: AssetJob | None, job_name: str) -> tuple[str, str] | None:
    """Why runs of ``job`` cannot start, as ``(reason, message)`` for a Ready=False condition; None when
    the job exists and is Ready."""
    if job is None:
        return "JobNotFound", f"AssetJob {job_name!r} does not exist in this namespace; create it or fix spec.job"
    ready = find_condition(job.status.conditions, READY) if job.status else None
    if ready is None or ready.status != ConditionStatus.TRUE:
        detail = f": {ready.message}" if ready is not None and ready.message else " yet"
        return "JobNotReady", f"AssetJob {job_name!r} is not ready{detail}"
    return None


def ready_condition_is(conditions: Sequence[Condition], state: ConditionStatus, reason: str, message: str) -> bool:
    """Whether the Ready condition already says this: a Warning Event is emitted only when it changes."""
    current = find_condition(conditions, READY)
    return current is not None and (current.status, current.reason, current.message) == (state, reason, message)


def run_manifest(
    owner: KubeResource,
    *,
    name: str,
    job: AssetJob,
    trigger: RunTrigger,
    owner_label: str,
    tags: Mapping[str, str] | None,
    config: Mapping[str, Any] | None,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The AssetRun a trigger creates: a run of ``job`` named ``name`` (deterministic, so a second
    attempt gets 409 AlreadyExists), labelled with the trigger (``owner_label``) and the job, owned by the
    trigger (so its history limits apply and deleting it deletes its runs)."""
    spec = AssetRunSpec(
        job=job.metadata.name,
        tags=dict(tags) if tags else None,
        config=dict(config) if config else None,
        trigger=trigger,
    )
    manifest = AssetRun(spec=spec).to_json()
    labels = child_labels(COMPONENT_RUN, code_location=job.spec.code_location, job=job.metadata.name)
    labels[owner_label] = owner.metadata.name or ""
    metadata: dict[str, Any] = {
        "name": name,
        "labels": labels,
        "ownerReferences": [owner_reference(owner)],
    }
    if owner.metadata.namespace:
        metadata["namespace"] = owner.metadata.namespace
    if annotations:
        metadata["annotations"] = dict(annotations)
    manifest["metadata"] = metadata
    return manifest


def _finish_order(run: AssetRun) -> tuple[datetime, str]:
    status = run.status
    moment = (status.completion_time or status.start_time if status else None) or run.metadata.creation_timestamp
    return (moment or _EPOCH, run.metadata.name or "")


def history_deletions(runs: Sequence[AssetRun], successful_limit: int, failed_limit: int) -> list[ObjectId]:
    """The finished runs beyond the history limits, oldest first: of the Succeeded runs all but the newest
    ``successful_limit``, of the Failed and Canceled ones all but the newest ``failed_limit`` (as CronJob's
    successful/failedJobsHistoryLimit). Active runs are never deleted."""
    succeeded = sorted((run for run in runs if run_phase(run) == RunPhase.SUCCEEDED), key=_finish_order)
    failed = sorted((run for run in runs if run_phase(run) in (RunPhase.FAILED, RunPhase.CANCELED)), key=_finish_order)
    doomed = succeeded[: max(len(succeeded) - successful_limit, 0)] + failed[: max(len(failed) - failed_limit, 0)]
    return [ObjectId(run.metadata.name or "", run.metadata.uid) for run in sorted(doomed, key=_finish_order)]


def run_reference(run: AssetRun) -> RunReference:
    """``run`` as a ``lastRun`` entry of a status."""
    status = run.status
    return RunReference(
        name=run.metadata.name or "",
        phase=run_phase(run),
        start_time=status.start_time if status else None,
        completion_time=status.completion_time if status else None,
    )


def last_success_time(runs: Iterable[AssetRun], previous: datetime | None) -> datetime | None:
    """The latest completion time of a Succeeded run among ``runs`` and ``previous``."""
    times = [
        run.status.completion_time
        for run in runs
        if run.status and run.status.completion_time and run_phase(run) == RunPhase.SUCCEEDED
    ]
    if previous is not None:
        times.append(previous)
    return max(times, default=None)

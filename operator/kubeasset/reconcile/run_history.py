"""The run history of a job: which finished runs its ``successfulRunsHistoryLimit`` and
``failedRunsHistoryLimit`` delete (deleting a run deletes its Pod, through the ownerReference).

Only runs kubeasset made for the job are ever deleted: those owned by the job (retries) or labelled
``kubeasset.dev/job: <job>`` (schedule, sensor and CLI runs). A run a person or a GitOps tool applied
without that label is never deleted: a GitOps tool would apply it again, and it would run again.
A failed run that still has to create its retry is kept until it has.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from kubeasset.api.assetjob import AssetJob
from kubeasset.api.assetrun import AssetRun
from kubeasset.reconcile.naming import JOB_LABEL, label_value
from kubeasset.reconcile.plan_items import ObjectId
from kubeasset.reconcile.run_retry import awaiting_retry
from kubeasset.reconcile.trigger_runs import history_deletions


def belongs_to_job(run: AssetRun, job: AssetJob) -> bool:
    """Whether the history limits of ``job`` apply to ``run``: a run of the job that kubeasset made."""
    if run.spec.job != job.metadata.name:
        return False
    uid = job.metadata.uid
    owned = uid is not None and any(reference.uid == uid for reference in run.metadata.owner_references or ())
    labelled = (run.metadata.labels or {}).get(JOB_LABEL) == label_value(job.metadata.name or "")
    return owned or labelled


def job_history_deletions(job: AssetJob, runs: Sequence[AssetRun], now: datetime) -> tuple[ObjectId, ...]:
    """The finished runs of ``job`` beyond its history limits, oldest first (see the module docstring).

    Example::

        for doomed in job_history_deletions(job, runs_of_job, now):
            delete_run(doomed.name, uid=doomed.uid)  # 404: already gone, fine
    """
    mine = [run for run in runs if belongs_to_job(run, job) and run.metadata.deletion_timestamp is None]
    doomed = history_deletions(mine, job.spec.successful_runs_history_limit, job.spec.failed_runs_history_limit)
    keep = {run.metadata.name for run in mine if awaiting_retry(run, job, now)}
    return tuple(item for item in doomed if item.name not in keep)

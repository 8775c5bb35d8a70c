"""Run pieces shared by the kinds that start runs or report on them: phases, run references, retries."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from kubeasset.api.base import KubeModel
from kubeasset.api.types import ObjectName, Timestamp


class RunPhase(StrEnum):
    """Where a run is in its life, like a Pod's or an Argo Workflow's phase.

    Pending (created, waiting: queued behind maxConcurrentRuns or for its Pod to be created), Starting
    (Pod created, not running yet: scheduling, image pull), Running, and the final phases Succeeded,
    Failed and Canceled.
    """

    PENDING = "Pending"
    STARTING = "Starting"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELED = "Canceled"

    @property
    def is_finished(self) -> bool:
        """Succeeded, Failed and Canceled are final: the run never changes phase again."""
        return self in (RunPhase.SUCCEEDED, RunPhase.FAILED, RunPhase.CANCELED)


class RunReference(KubeModel):
    """A pointer to one AssetRun with its outcome, e.g. a job's or a schedule's last run."""

    name: ObjectName
    """The AssetRun's name (same namespace)."""
    phase: RunPhase | None = None
    """The run's phase when this reference was last written."""
    start_time: Timestamp | None = None
    """When the run started."""
    completion_time: Timestamp | None = None
    """When the run finished."""


class RetryStrategy(StrEnum):
    """What a retry run materializes."""

    FROM_FAILURE = "FromFailure"
    """Only the assets of the failed run that did not materialize (failed, skipped, canceled, pending)."""
    ALL_ASSETS = "AllAssets"
    """Every asset of the job again."""


#: The most retries a job may ask for: retries are new AssetRuns, so this also bounds run objects.
MAX_RETRIES = 10


class RetryPolicy(KubeModel):
    """How a failed run of a job is retried, as Dagster's run retries: each retry is a new AssetRun.

    A retry run has ``spec.trigger: {type: Retry, retryOf: <failed run>}`` and ``status.attempts`` one
    more than the run it retries; no retry is made once ``attempts`` reaches ``maxRetries + 1``, nor for
    a canceled run.
    """

    max_retries: Annotated[int, Field(ge=0, le=MAX_RETRIES)] = 0
    """How many times a failed run is retried (0: never)."""
    strategy: RetryStrategy = RetryStrategy.FROM_FAILURE
    """FromFailure (re-run what did not materialize) or AllAssets."""
    retry_on_asset_failure: bool = True
    """Retry when an asset raised; false retries only runs whose Pod failed (OOMKilled, evicted, ...)."""
    backoff_seconds: Annotated[int, Field(ge=0, le=86400)] = 0
    """How long to wait after a failure before creating the retry run."""


#: Bounds of the run history limits.
MAX_HISTORY_LIMIT = 1000
HistoryLimit = Annotated[int, Field(ge=0, le=MAX_HISTORY_LIMIT)]

"""Retries of failed runs, as Dagster's run retries: a retry is a NEW AssetRun (trigger Retry) that runs
what the failed run did not materialize, created by the failed run's plan when its job's policy allows.

Decisions (tests/unit/reconcile/test_asset_run_retry.py):

* only runs of a job are retried (an ad-hoc run has no retry policy), only Failed ones (never Canceled
  or Succeeded), only while ``attempts < retry.maxRetries + 1``;
* retryable reasons: a Pod that died (OOMKilled, Evicted, Deleted, NodeLost, a node shutdown, a crash
  with a non-zero exit, an init container failure, StartTimeout: a cluster that could not schedule
  or pull in time may well do so next time) and, when ``retryOnAssetFailure`` (the default), AssetsFailed. Not
  retryable, because the same input fails the same way: the run's own configuration (InvalidSelection,
  EmptySelection, TooManyAssets, InvalidPod), CouldNotStart (the code does not import), InvalidImageName,
  ContainerCannotRun, and DeadlineExceeded (as a Kubernetes Job: a run timeout is a budget, not a fault);
* FromFailure selects the assets that did not materialize (failed, skipped, canceled, never run) as
  ``key:"a" or key:"b"``; when that exceeds a selection's 4,096 characters, as
  ``<the run's selection> and not (<the materialized keys>)``, or ``not (<the materialized keys>)``
  for a run of the whole job (a job run's selection is narrowed to the job's assets, so both forms
  resolve to exactly those assets over the same graph); when neither fits, there is no retry and a
  RetryNotPossible Event says why. AllAssets repeats the run's selection;
* the retry is ``<run>-retry-<n>`` (``n`` = retries so far in the chain; a retry's own ``-retry-<k>``
  suffix is replaced, so a chain reads x-retry-1, x-retry-2), at most 253 characters (a longer base is
  cut and hashed); its ``kubeasset.dev/attempt`` annotation carries its attempt number, which becomes
  its ``status.attempts``; it is owned by and labelled with the job (not by the failed run: deleting
  the failed run by the history limits must not delete its retry), keeps the run's tags, config and
  scheduled time, and waits ``retry.backoffSeconds`` after the failure;
* a failed run records its retry in a ``Retried`` condition, so it is created once: not again after the
  retry run is deleted (history limits), and not for old failures when a policy is added later (a
  retry is also only created within RETRY_WINDOW_SECONDS of its due time).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from kubeasset.api.assetjob import AssetJob
from kubeasset.api.assetrun import (
    SCHEDULED_TIME_ANNOTATION,
    AssetRun,
    AssetRunSpec,
    AssetRunState,
    AssetRunStatus,
    RunTrigger,
    TriggerType,
)
from kubeasset.api.conditions import SUCCEEDED, ConditionStatus, find_condition
from kubeasset.api.runs import MAX_RETRIES, RetryStrategy, RunPhase
from kubeasset.api.types import MAX_OBJECT_NAME_LENGTH, MAX_SELECTION_LENGTH
from kubeasset.errors import ApiModelError, InvalidAssetKeyError, SelectionError
from kubeasset.graph import AssetKey
from kubeasset.reconcile.naming import COMPONENT_RUN, child_labels, label_value, owner_reference, short_hash
from kubeasset.reconcile.run_pod import scheduled_time
from kubeasset.selection import AssetSelection, parse_selection

#: The condition a failed run gets once its retry run was created (True, reason RetryCreated).
RETRIED: Final = "Retried"
RETRY_CREATED: Final = "RetryCreated"
#: On a retry run: its attempt number in the retry chain (2 for the first retry).
ATTEMPT_ANNOTATION: Final = "kubeasset.dev/attempt"
#: On a retry run: the run it retries (``kubectl get arun -l kubeasset.dev/retry-of=<run>``).
RETRY_OF_LABEL: Final = "kubeasset.dev/retry-of"
#: A retry is created at most this long after it became due: a controller down for longer, or a retry
#: policy added to a job later, does not retry old failures.
RETRY_WINDOW_SECONDS: Final = 3600
#: The highest attempt number (status.attempts allows 100; a policy allows MAX_RETRIES retries).
MAX_ATTEMPT: Final = 100

#: Failure reasons a retry cannot fix: the same run would fail the same way.
NOT_RETRYABLE_REASONS: Final = frozenset(
    {
        "InvalidSelection",
        "EmptySelection",
        "TooManyAssets",
        "InvalidPod",
        "CouldNotStart",
        "InvalidImageName",
        "ContainerCannotRun",
        "DeadlineExceeded",
    }
)
#: The reason of a run whose assets failed (the runner reported them).
ASSETS_FAILED: Final = "AssetsFailed"

_RETRY_NAME_RE: Final = re.compile(r"^(?P<base>.+)-retry-(?P<number>[0-9]+)$")


def run_attempt(run: AssetRun) -> int:
    """The run's attempt in its retry chain: ``status.attempts`` once written; else 1 for an original
    run, and for a retry its ``kubeasset.dev/attempt`` annotation (2 when missing or invalid)."""
    if run.status is not None and run.status.attempts is not None:
        return run.status.attempts
    if run.spec.trigger.type != TriggerType.RETRY:
        return 1
    text = (run.metadata.annotations or {}).get(ATTEMPT_ANNOTATION, "")
    value = int(text) if text.isdigit() else 2
    return min(max(value, 2), MAX_ATTEMPT)


def retry_run_name(run: AssetRun, retry_number: int) -> str:
    """``<run>-retry-<n>``; a retry's own suffix is replaced (``x-retry-1`` -> ``x-retry-2``); a base
    too long for 253 characters is cut and gets 8 hex of its sha256, so names stay distinct."""
    name = run.metadata.name or ""
    match = _RETRY_NAME_RE.match(name)
    base = match.group("base") if match and run.spec.trigger.type == TriggerType.RETRY else name
    suffix = f"-retry-{retry_number}"
    if len(base) + len(suffix) <= MAX_OBJECT_NAME_LENGTH:
        return base + suffix
    head = base[: MAX_OBJECT_NAME_LENGTH - len(suffix) - 9].rstrip("-.")
    return f"{head}-{short_hash(base)}{suffix}"


def retry_selection(run: AssetRun, status: AssetRunStatus, strategy: RetryStrategy) -> str | None:
    """The retry's ``spec.selection``: see the module docstring. None with AllAssets for a run of the
    whole job; raises SelectionError when no form fits MAX_SELECTION_LENGTH or nothing is left to run."""
    if strategy == RetryStrategy.ALL_ASSETS:
        return run.spec.selection
    assets = status.assets or []
    rerun = [asset.key for asset in assets if asset.state != AssetRunState.MATERIALIZED]
    if not rerun:
        raise SelectionError("every asset of the run materialized: there is nothing to retry")
    try:
        keys_form = AssetSelection.keys(*(AssetKey.from_user_string(key) for key in rerun)).to_selection_str()
        if len(keys_form) <= MAX_SELECTION_LENGTH:
            return keys_form
        done = [AssetKey.from_user_string(asset.key) for asset in assets if asset.state == AssetRunState.MATERIALIZED]
        base = parse_selection(run.spec.selection) if run.spec.selection else AssetSelection.all()
        difference = (base - AssetSelection.keys(*done)).to_selection_str()
    except InvalidAssetKeyError as error:
        raise SelectionError(f"the run's asset keys cannot be selected again: {error}") from error
    if len(difference) <= MAX_SELECTION_LENGTH:
        return difference
    raise SelectionError(
        f"the {len(rerun)} assets to retry cannot be written in one selection of at most "
        f"{MAX_SELECTION_LENGTH} characters (as keys: {len(keys_form)}; as the run's selection minus the "
        f"{len(done)} materialized assets: {len(difference)}): launch a new run instead"
    )


def failure_reason(status: AssetRunStatus) -> str | None:
    """The reason of a run's Succeeded=False condition (AssetsFailed, OOMKilled, ...)."""
    condition = find_condition(status.conditions, SUCCEEDED)
    return condition.reason if condition is not None and condition.status == ConditionStatus.FALSE else None


@dataclass(frozen=True)
class RetryDecision:
    """Whether a finished run gets a retry, and if so which and when.

    ``wanted``: the policy asks for one (even if it cannot be made: then ``problem`` says why);
    ``note``: a short text for the RunFailed Event (``retrying as run x-retry-1 in 30s``,
    ``no retries left: attempt 3 of 3``); ``due``: when to create it; ``manifest``: the AssetRun.
    """

    wanted: bool
    note: str | None = None
    name: str | None = None
    attempt: int | None = None
    due: datetime | None = None
    manifest: dict[str, Any] | None = None
    problem: str | None = None


def decide_retry(run: AssetRun, status: AssetRunStatus, job: AssetJob | None) -> RetryDecision:
    """Whether the finished run (with ``status``) is to be retried under ``job``'s policy.

    Example::

        decision = decide_retry(run, new_status, job)
        if decision.manifest is not None and now >= decision.due: create(decision.manifest)
    """
    policy = job.spec.retry if job is not None and run.spec.job is not None else None
    if job is None or policy is None or policy.max_retries == 0 or status.phase != RunPhase.FAILED:
        return RetryDecision(wanted=False)
    reason = failure_reason(status) or ""
    attempt = status.attempts or run_attempt(run)
    allowed = min(policy.max_retries, MAX_RETRIES) + 1
    if reason in NOT_RETRYABLE_REASONS:
        return RetryDecision(wanted=False, note=f"not retried: a retry cannot fix {reason}")
    if reason == ASSETS_FAILED and not policy.retry_on_asset_failure:
        return RetryDecision(wanted=False, note="not retried: the job's retry.retryOnAssetFailure is false")
    if attempt >= allowed:
        return RetryDecision(wanted=False, note=f"no retries left: attempt {attempt} of {allowed}")
    name = retry_run_name(run, attempt)
    completion = status.completion_time
    due = completion + timedelta(seconds=policy.backoff_seconds) if completion is not None else None
    when = f" in {policy.backoff_seconds}s" if policy.backoff_seconds else ""
    try:
        selection = retry_selection(run, status, policy.strategy)
        manifest = retry_manifest(run, job, name=name, attempt=attempt + 1, selection=selection)
    except (SelectionError, ApiModelError, ValueError) as error:
        return RetryDecision(wanted=True, name=name, attempt=attempt + 1, problem=str(error))
    note = f"retrying as run {name} (attempt {attempt + 1} of {allowed}){when}"
    return RetryDecision(wanted=True, note=note, name=name, attempt=attempt + 1, due=due, manifest=manifest)


def retry_manifest(run: AssetRun, job: AssetJob, *, name: str, attempt: int, selection: str | None) -> dict[str, Any]:
    """The retry AssetRun: a run of the same job with ``selection``, the run's tags and config, trigger
    ``{type: Retry, retryOf: <run>}``, owned by and labelled with the job."""
    spec = AssetRunSpec(
        job=run.spec.job,
        selection=selection,
        tags=dict(run.spec.tags) if run.spec.tags else None,
        config=dict(run.spec.config) if run.spec.config else None,
        trigger=RunTrigger(type=TriggerType.RETRY, retry_of=run.metadata.name),
    )
    manifest = AssetRun(spec=spec).to_json()
    labels = child_labels(COMPONENT_RUN, code_location=job.spec.code_location, job=job.metadata.name)
    labels[RETRY_OF_LABEL] = label_value(run.metadata.name or "")
    annotations = {ATTEMPT_ANNOTATION: str(attempt)}
    scheduled = scheduled_time(run)
    if scheduled is not None:
        annotations[SCHEDULED_TIME_ANNOTATION] = scheduled
    metadata: dict[str, Any] = {
        "name": name,
        "labels": labels,
        "annotations": annotations,
        "ownerReferences": [owner_reference(job)],
    }
    if run.metadata.namespace:
        metadata["namespace"] = run.metadata.namespace
    manifest["metadata"] = metadata
    return manifest


def awaiting_retry(run: AssetRun, job: AssetJob | None, now: datetime) -> bool:
    """Whether ``run`` (finished, as observed) still has to create its retry: the history limits keep it
    until then, or the retry would never be made."""
    status = run.status
    if status is None or status.phase != RunPhase.FAILED or find_condition(status.conditions, RETRIED) is not None:
        return False
    decision = decide_retry(run, status, job)
    return decision.manifest is not None and within_window(decision.due, now)


def within_window(due: datetime | None, now: datetime) -> bool:
    """Whether a retry due at ``due`` may still be created at ``now`` (RETRY_WINDOW_SECONDS)."""
    return due is None or now <= due + timedelta(seconds=RETRY_WINDOW_SECONDS)

"""The Kubernetes Events of an AssetRun, derived from the change between its old and its new status only,
so planning the same observation twice emits nothing the second time.

One Event per phase entered: RunQueued (Pending), PodCreated (Starting), RunStarted (Running), then
RunSucceeded, RunFailed (Warning) or RunCanceled. A run observed for the first time in a later phase
(a fast Pod that was already running, or done) gets the Events of the phases it went through, in
order. Besides: an AssetFailed Warning when an asset becomes Failed (at most MAX_ASSET_EVENTS per plan,
then one that counts the rest), a Warning with the reason when a Pending run becomes blocked
(JobNotFound, JobNotReady, CodeLocationNotFound, CodeLocationNotReady, OldPodExists).
"""

from __future__ import annotations

from typing import Final

from kubeasset.api.assetrun import AssetRunState, AssetRunStatus
from kubeasset.api.conditions import SUCCEEDED, find_condition
from kubeasset.api.runs import RunPhase
from kubeasset.reconcile.plan_items import Event, EventType
from kubeasset.reconcile.status_bounds import cut_message

RUN_QUEUED: Final = "RunQueued"
POD_CREATED: Final = "PodCreated"
RUN_STARTED: Final = "RunStarted"
ASSET_FAILED: Final = "AssetFailed"
RUN_SUCCEEDED: Final = "RunSucceeded"
RUN_FAILED: Final = "RunFailed"
RUN_CANCELED: Final = "RunCanceled"
RUN_RETRIED: Final = "RunRetried"
RETRY_NOT_POSSIBLE: Final = "RetryNotPossible"
#: Individual AssetFailed Events per plan; the rest are counted in one more.
MAX_ASSET_EVENTS: Final = 5
#: Event messages are cut to this (the API server's limit is 1 KiB for notes of events.k8s.io/v1).
MAX_EVENT_MESSAGE: Final = 1024

_LIFECYCLE: Final = (RunPhase.PENDING, RunPhase.STARTING, RunPhase.RUNNING)


def lifecycle_rank(phase: RunPhase | None) -> int:
    """Pending 0, Starting 1, Running 2; None (no status yet) -1; final phases 3."""
    if phase is None:
        return -1
    return _LIFECYCLE.index(phase) if phase in _LIFECYCLE else len(_LIFECYCLE)


def event(type_: EventType, reason: str, message: str) -> Event:
    """An Event with its message cut to MAX_EVENT_MESSAGE."""
    return Event(type_, reason, cut_message(message, MAX_EVENT_MESSAGE))


def transition_events(
    old: AssetRunStatus, new: AssetRunStatus, *, blocking_reasons: frozenset[str], failure_note: str | None = None
) -> list[Event]:
    """The Events of going from ``old`` to ``new`` (see the module docstring); ``failure_note`` is
    appended to RunFailed (what happens about retries)."""
    events: list[Event] = []
    if old.phase != new.phase and new.phase is not None:
        before = lifecycle_rank(old.phase)
        if new.phase in _LIFECYCLE:
            reached = lifecycle_rank(new.phase)
        elif new.start_time is not None:
            reached = lifecycle_rank(RunPhase.RUNNING)
        else:
            reached = lifecycle_rank(RunPhase.STARTING) if new.pod_name else -1
        for phase in _LIFECYCLE:
            if before < lifecycle_rank(phase) <= reached and (phase != RunPhase.PENDING or new.phase == phase):
                events.append(_entered(phase, new))
        if new.phase.is_finished:
            events.append(_finished(new, failure_note))
    events += _blocked(old, new, blocking_reasons)
    events += _asset_failures(old, new)
    return events


def _entered(phase: RunPhase, new: AssetRunStatus) -> Event:
    total = new.summary.total if new.summary is not None else 0
    assets = f"{total} asset{'s' if total != 1 else ''}"
    if phase == RunPhase.PENDING:
        return event(EventType.NORMAL, RUN_QUEUED, new.message or "queued")
    if phase == RunPhase.STARTING:
        return event(EventType.NORMAL, POD_CREATED, f"created Pod {new.pod_name} to run {assets}")
    return event(EventType.NORMAL, RUN_STARTED, f"Pod {new.pod_name} started running {assets}")


def _finished(new: AssetRunStatus, note: str | None) -> Event:
    message = new.message or ""
    if new.phase == RunPhase.SUCCEEDED:
        return event(EventType.NORMAL, RUN_SUCCEEDED, message)
    if new.phase == RunPhase.CANCELED:
        return event(EventType.NORMAL, RUN_CANCELED, message)
    return event(EventType.WARNING, RUN_FAILED, f"{message}; {note}" if note else message)


def _blocked(old: AssetRunStatus, new: AssetRunStatus, blocking: frozenset[str]) -> list[Event]:
    if new.phase != RunPhase.PENDING:
        return []
    before, after = find_condition(old.conditions, SUCCEEDED), find_condition(new.conditions, SUCCEEDED)
    if after is None or after.reason not in blocking:
        return []
    if before is not None and old.phase == RunPhase.PENDING and before.reason == after.reason:
        return []
    return [event(EventType.WARNING, after.reason, after.message)]


def _asset_failures(old: AssetRunStatus, new: AssetRunStatus) -> list[Event]:
    was_failed = {asset.key for asset in old.assets or () if asset.state == AssetRunState.FAILED}
    failed = [
        asset for asset in new.assets or () if asset.state == AssetRunState.FAILED and asset.key not in was_failed
    ]
    events = [
        event(EventType.WARNING, ASSET_FAILED, f"asset {asset.key} failed: {asset.message or 'see the Pod log'}")
        for asset in failed[:MAX_ASSET_EVENTS]
    ]
    if len(failed) > MAX_ASSET_EVENTS:
        more = len(failed) - MAX_ASSET_EVENTS
        events.append(
            event(EventType.WARNING, ASSET_FAILED, f"{more} more assets failed (see the run's status.assets)")
        )
    return events

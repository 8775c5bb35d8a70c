"""The per-asset status of a run, folded from what the runner reported (event lines, the termination
summary) and what Kubernetes says of its Pod: pure, and re-playable from the first event after a
controller restart.

Rules (each one a test in tests/unit/reconcile/test_run_progress.py):

* every asset starts Pending; ``AssetStarted`` makes it Running; ``AssetMaterialized``, ``AssetFailed``,
  ``AssetSkipped`` make it final, and **a final state never changes**: a late, duplicated or
  out-of-order event (``AssetStarted`` after ``AssetMaterialized``) only fills in a missing time;
* ``RunFinished(canceled)`` cancels the assets that never finished (the runner gives them no event);
* the summary (termination message), when present, is authoritative for the assets that events left
  unfinished (event lines lost to log rotation or a controller restart); a summary of result ``Error``
  (the run could not start) cancels them all, with its error as the reason;
* when the Pod is over and an asset is still unfinished, the Pod died without reporting it: the asset
  that was Running becomes Failed with the Kubernetes reason (``Pod shop-run-1 was OOMKilled ...``), the
  never-started ones Canceled ("not run: the Pod was OOMKilled"); after exit 0 they are Materialized
  (the runner's exit code says every listed asset materialized); with ``cancel_requested`` they become
  Canceled; after exit 1 or 2 (the runner ended on its own terms but its report was lost) Canceled with
  "no result reported" / "could not start" rather than an invented cause;
* the phase: Pending without a Pod, Starting while it is not running, Running while it runs (also while
  a canceled run's Pod is stopping), Succeeded only when every asset Materialized **and** the Pod
  succeeded (even if a cancel came too late), Canceled for a requested cancel, else Failed with the
  reason a person can act on (OOMKilled, Evicted, DeadlineExceeded, Deleted, AssetsFailed,
  CouldNotStart, ...).

Status stays bounded: each asset's entry gets its share of the run's status
(kubeasset.reconcile.status_bounds), and the run's message fits MAX_MESSAGE_LENGTH. The Asset catalog
learns of materializations and failures through kubeasset.reconcile.run_catalog.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from kubeasset.api.assetrun import AssetRunState, RunAssetStatus
from kubeasset.api.assetrun import RunSummary as AssetCounts
from kubeasset.api.runs import RunPhase
from kubeasset.errors import ProtocolError
from kubeasset.reconcile.pod_outcome import PodOutcome, PodOutcomeKind, format_duration
from kubeasset.reconcile.status_bounds import AssetStatusBudget, bound_metadata, cut_message, short_string
from kubeasset.sdk.events import (
    AssetFailed,
    AssetMaterialized,
    AssetSkipped,
    AssetStarted,
    ExecutionEvent,
    RunFinished,
    RunStarted,
)
from kubeasset.sdk.metadata import metadata_to_json
from kubeasset.sdk.runner_protocol import EXIT_COULD_NOT_START, RunSummary

#: How many failed assets a run message names.
_NAMED_FAILURES: Final = 3
_MAX_NAMED_ERROR_CHARS: Final = 200
_FINAL_STATES: Final = frozenset(
    {AssetRunState.MATERIALIZED, AssetRunState.FAILED, AssetRunState.SKIPPED, AssetRunState.CANCELED}
)
_SUMMARY_STATES: Final = {
    "Materialized": AssetRunState.MATERIALIZED,
    "Failed": AssetRunState.FAILED,
    "Skipped": AssetRunState.SKIPPED,
    "Canceled": AssetRunState.CANCELED,
}


@dataclass(frozen=True)
class MaterializationRecord:
    """One asset the run materialized, for the Asset catalog: with what its event reported, or, when
    only the summary or the exit code told (``reported`` False), without metadata or versions."""

    key: str
    time: datetime
    metadata: Mapping[str, Any] = field(default_factory=dict)
    code_version: str | None = None
    data_version: str | None = None
    reported: bool = True


@dataclass(frozen=True)
class FailureRecord:
    """One asset the run failed on, for the Asset catalog's ``lastFailure``."""

    key: str
    time: datetime
    message: str


@dataclass(frozen=True)
class RunProgress:
    """The run's status as its Pod and runner report it: per-asset results (topological order), counts,
    phase, a CamelCase ``reason`` (for the Succeeded condition and Events) and a one-line ``message``."""

    assets: tuple[RunAssetStatus, ...]
    counts: AssetCounts
    phase: RunPhase
    reason: str
    message: str
    start_time: datetime | None
    completion_time: datetime | None
    materializations: tuple[MaterializationRecord, ...]
    failures: tuple[FailureRecord, ...]

    @property
    def progress(self) -> str:
        """``materialized/total`` for ``status.progress``."""
        return self.counts.progress


def fold_run_progress(
    asset_keys: Sequence[str],
    events: Sequence[ExecutionEvent],
    summary: RunSummary | None,
    outcome: PodOutcome,
    now: datetime,
    *,
    unreadable_lines: int = 0,
    cancel_requested: bool = False,
    previous: Sequence[RunAssetStatus] = (),
) -> RunProgress:
    """Fold everything known about a run into its :class:`RunProgress`.

    ``asset_keys``: the run's keys as given to the runner (KUBEASSET_ASSETS, topological order);
    ``events``: every event line read so far, in log order; ``summary``: the parsed termination message,
    if any; ``outcome``: :func:`kubeasset.reconcile.pod_outcome.classify_pod`'s reading of the Pod;
    ``unreadable_lines``: how many event lines raised ProtocolError (the message mentions them);
    ``cancel_requested``: the run's ``spec.cancel``; ``previous``: the per-asset status written before
    (the run's status.assets): an asset it shows final stays so even when the events that made it final
    can no longer be read (a controller restarted after the Pod, and its log, were gone).

    ``now`` is used only for times nothing else gives (an asset ended by a Pod that vanished); once the
    phase is final, keep the status written then instead of folding again.

    Example::

        progress = fold_run_progress(keys, events, summary, classify_pod(pod, now=now,
                                     start_timeout_seconds=600), now)
        status.assets, status.phase = list(progress.assets), progress.phase
    """
    fold = _Fold(asset_keys, now)
    for event in events:
        fold.apply(event)
    fold.keep_previous(previous)
    if fold.run_finished is not None and fold.run_finished.canceled:
        fold.finish_unfinished(
            AssetRunState.CANCELED,
            AssetRunState.CANCELED,
            "canceled: the run was interrupted while this asset ran",
            "not run: the run was interrupted",
            fold.run_finished.timestamp,
        )
    notes: list[str] = []
    if summary is not None:
        notes += fold.apply_summary(summary, outcome.finished_at or now)
    pod_over = outcome.final or (cancel_requested and outcome.kind == PodOutcomeKind.NOT_CREATED)
    if pod_over:
        end = outcome.finished_at or now
        if outcome.kind == PodOutcomeKind.SUCCEEDED:  # done before a cancel could stop it
            fold.infer_materialized(end)
        elif cancel_requested:
            fold.finish_unfinished(
                AssetRunState.CANCELED,
                AssetRunState.CANCELED,
                "canceled: the run was canceled while this asset ran",
                "not run: the run was canceled",
                end,
            )
        elif outcome.exit_code == EXIT_COULD_NOT_START:
            why = "not run: the run could not start (see the Pod log)"
            fold.finish_unfinished(AssetRunState.CANCELED, AssetRunState.CANCELED, why, why, end)
        elif outcome.runner_completed:
            # The runner finished on its own terms but neither an event nor the summary (which omits
            # per-asset states beyond ~3,800 assets) says what became of these: do not invent a cause.
            unknown = "no result reported: its event line was not read (see the Pod log)"
            fold.finish_unfinished(AssetRunState.CANCELED, AssetRunState.CANCELED, unknown, unknown, end)
        else:
            fold.finish_unfinished(
                AssetRunState.FAILED, AssetRunState.CANCELED, outcome.message, f"not run: {_cause(outcome)}", end
            )
    if unreadable_lines:
        plural = "s" if unreadable_lines != 1 else ""
        notes.append(f"{unreadable_lines} unreadable event line{plural} (see the Pod log)")
    if fold.foreign:
        foreign = list(fold.foreign)
        plural = "s" if len(foreign) != 1 else ""
        notes.append(f"ignored events for {len(foreign)} asset{plural} not in this run ({_names(foreign)})")
    return fold.progress(outcome, summary, pod_over, cancel_requested, notes)


# --- the fold ---------------------------------------------------------------------------------------


@dataclass
class _Asset:
    key: str
    state: AssetRunState = AssetRunState.PENDING
    start_time: datetime | None = None
    end_time: datetime | None = None
    duration: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    code_version: str | None = None
    data_version: str | None = None
    message: str | None = None
    reported: bool = False  # materialized with an event of its own (metadata, versions)

    @property
    def final(self) -> bool:
        return self.state in _FINAL_STATES

    def start(self, moment: datetime) -> None:
        if self.start_time is None:
            self.start_time = moment
        if self.state == AssetRunState.PENDING:
            self.state = AssetRunState.RUNNING

    def finish(
        self, state: AssetRunState, moment: datetime, *, duration: float | None = None, message: str | None = None
    ) -> bool:
        """Make the asset final; False (and nothing changes) when it already is: finals never regress."""
        if self.final:
            if self.start_time is None and duration is not None and self.state == state:
                self.start_time = _before(moment, duration)
            return False
        self.state = state
        self.end_time = moment
        if duration is not None:
            self.duration = max(0.0, duration)
            if self.start_time is None:
                self.start_time = _before(moment, self.duration)
        elif self.start_time is not None and moment >= self.start_time:
            self.duration = (moment - self.start_time).total_seconds()
        self.message = cut_message(message) if message else None
        return True

    def status(self, budget: AssetStatusBudget) -> RunAssetStatus:
        return RunAssetStatus.model_validate(
            {
                "key": self.key,
                "state": self.state,
                "startTime": self.start_time if budget.times else None,
                "endTime": self.end_time if budget.times else None,
                "durationSeconds": self.duration,
                "metadata": bound_metadata(self.metadata, budget.metadata_bytes),
                "dataVersion": short_string(self.data_version),
                "message": cut_message(self.message, budget.message_chars) if self.message else None,
            }
        )


class _Fold:
    def __init__(self, asset_keys: Sequence[str], now: datetime) -> None:
        self.assets = {key: _Asset(key) for key in asset_keys}
        self.now = now
        self.run_started: datetime | None = None
        self.run_finished: RunFinished | None = None
        self.foreign: dict[str, None] = {}
        """Keys of events for assets that are not in this run (a runner of another version, a user's print)."""

    def apply(self, event: ExecutionEvent) -> None:
        if isinstance(event, RunStarted):
            self.run_started = self.run_started or event.timestamp
            return
        if isinstance(event, RunFinished):
            self.run_finished = self.run_finished or event
            return
        asset = self.assets.get(event.asset_key.to_user_string())
        if asset is None:  # not an asset of this run: nothing to record it in, but the message says so
            self.foreign[event.asset_key.to_user_string()] = None
            return
        if isinstance(event, AssetStarted):
            asset.start(event.timestamp)
        elif isinstance(event, AssetMaterialized):
            if asset.finish(AssetRunState.MATERIALIZED, event.timestamp, duration=event.duration_seconds):
                asset.metadata = metadata_to_json(event.metadata)
                asset.code_version = event.code_version
                asset.data_version = event.data_version
                asset.reported = True
        elif isinstance(event, AssetFailed):
            asset.finish(
                AssetRunState.FAILED, event.timestamp, duration=event.duration_seconds, message=event.error.one_line()
            )
        elif isinstance(event, AssetSkipped):
            origin = event.failed_upstream or event.upstream
            names = ", ".join(key.to_user_string() for key in origin) or "an upstream asset"
            asset.finish(AssetRunState.SKIPPED, event.timestamp, message=f"not run: upstream {names} failed")

    def keep_previous(self, previous: Sequence[RunAssetStatus]) -> None:
        """What an earlier fold wrote stands where the events no longer say it (final states, start times)."""
        for written in previous:
            asset = self.assets.get(written.key)
            if asset is None or asset.final:
                continue
            if written.start_time is not None and asset.start_time is None:
                asset.start_time = written.start_time
            if written.state in _FINAL_STATES:
                asset.state = written.state
                asset.end_time = written.end_time
                asset.duration = written.duration_seconds
                asset.metadata = dict(written.to_json().get("metadata") or {})
                asset.data_version = written.data_version
                asset.message = written.message
            elif written.state == AssetRunState.RUNNING and asset.state == AssetRunState.PENDING:
                asset.state = AssetRunState.RUNNING

    def apply_summary(self, summary: RunSummary, moment: datetime) -> list[str]:
        """Finish the unfinished assets from the summary; returns notes for the run's message."""
        if summary.result == "Error":
            error = summary.error or {}
            cause = ": ".join(part for part in (error.get("type"), error.get("message")) if part)
            why = f"not run: the run could not start ({cause})" if cause else "not run: the run could not start"
            for asset in self.unfinished():
                asset.finish(AssetRunState.CANCELED, moment, message=why)
            return []
        notes: list[str] = []
        try:
            states = summary.states_by_key(list(self.assets)) if summary.states is not None else None
        except ProtocolError as error:
            states = None
            notes.append(f"the termination summary does not match the run's assets ({error})")
        errors = {item.key: item.error for item in summary.failed}
        for asset in self.unfinished():
            name = states.get(asset.key) if states is not None else None
            if name is None:
                if asset.key in errors:
                    name = "Failed"
                elif summary.result == "Succeeded":
                    name = "Materialized"
                elif summary.result == "Canceled":
                    name = "Canceled"
            state = _SUMMARY_STATES.get(name or "")
            if state is None:  # "Pending" or unknown: the summary does not know either
                continue
            if state == AssetRunState.FAILED:
                message = errors.get(asset.key) or "failed (the error is in the Pod log; its event was not read)"
            elif state == AssetRunState.SKIPPED:
                message = "not run: an upstream asset failed"
            elif state == AssetRunState.CANCELED:
                message = "canceled: the run was interrupted"
            else:
                message = None
            asset.finish(state, moment, message=message)
        return notes

    def infer_materialized(self, moment: datetime) -> None:
        # Exit code 0 is the runner's word that every listed asset materialized (docs/runner-events.md).
        for asset in self.unfinished():
            asset.finish(AssetRunState.MATERIALIZED, moment)

    def finish_unfinished(
        self,
        running: AssetRunState,
        pending: AssetRunState,
        running_message: str,
        pending_message: str,
        moment: datetime,
    ) -> None:
        for asset in self.unfinished():
            if asset.state == AssetRunState.RUNNING:
                asset.finish(running, moment, message=running_message)
            else:
                asset.finish(pending, moment, message=pending_message)

    def unfinished(self) -> list[_Asset]:
        return [asset for asset in self.assets.values() if not asset.final]

    # --- the result -------------------------------------------------------------------------------

    def progress(
        self,
        outcome: PodOutcome,
        summary: RunSummary | None,
        pod_over: bool,
        cancel_requested: bool,
        notes: list[str],
    ) -> RunProgress:
        budget = AssetStatusBudget.for_run(len(self.assets))
        statuses = tuple(asset.status(budget) for asset in self.assets.values())
        counts = AssetCounts.of(statuses)
        phase, reason, message = self._phase(outcome, summary, pod_over, cancel_requested, counts)
        if notes:
            message = f"{message}; {'; '.join(notes)}"
        start = outcome.started_at or self.run_started
        if start is None:
            start = min((a.start_time for a in self.assets.values() if a.start_time is not None), default=None)
        completion = None
        if phase.is_finished:
            completion = outcome.finished_at or (self.run_finished.timestamp if self.run_finished else None) or self.now
        materialized = tuple(
            MaterializationRecord(
                key=asset.key,
                time=asset.end_time or self.now,
                metadata=asset.metadata,
                code_version=asset.code_version,
                data_version=asset.data_version,
                reported=asset.reported,
            )
            for asset in self.assets.values()
            if asset.state == AssetRunState.MATERIALIZED
        )
        failures = tuple(
            FailureRecord(key=asset.key, time=asset.end_time or self.now, message=asset.message or "failed")
            for asset in self.assets.values()
            if asset.state == AssetRunState.FAILED
        )
        return RunProgress(
            assets=statuses,
            counts=counts,
            phase=phase,
            reason=reason,
            message=cut_message(message),
            start_time=start,
            completion_time=completion,
            materializations=materialized,
            failures=failures,
        )

    def _phase(
        self,
        outcome: PodOutcome,
        summary: RunSummary | None,
        pod_over: bool,
        cancel_requested: bool,
        counts: AssetCounts,
    ) -> tuple[RunPhase, str, str]:
        if not pod_over:
            if outcome.kind == PodOutcomeKind.NOT_CREATED:
                return RunPhase.PENDING, "PodNotCreated", "waiting for the run's Pod to be created"
            if outcome.kind in (PodOutcomeKind.PENDING, PodOutcomeKind.NOT_STARTING):
                return RunPhase.STARTING, outcome.reason, outcome.message
            running = [a.key for a in self.assets.values() if a.state == AssetRunState.RUNNING]
            text = self._tally(counts)
            if running:
                text += f"; running {_names(running)}"
            if outcome.kind in (PodOutcomeKind.TERMINATING, PodOutcomeKind.UNKNOWN):
                return RunPhase.RUNNING, outcome.reason, f"{outcome.message}; {text}"
            return RunPhase.RUNNING, "Running", text
        if outcome.kind == PodOutcomeKind.SUCCEEDED and counts.materialized == counts.total:
            took = f" in {format_duration(summary.duration_seconds)}" if summary and summary.duration_seconds else ""
            return RunPhase.SUCCEEDED, "Succeeded", f"{counts.total} of {counts.total} assets materialized{took}"
        if cancel_requested:
            return RunPhase.CANCELED, "Canceled", f"canceled: {self._tally(counts)}"
        if summary is not None and summary.result == "Error":
            error = summary.error or {}
            cause = ": ".join(part for part in (error.get("type"), error.get("message")) if part)
            return RunPhase.FAILED, "CouldNotStart", f"the run could not start: {cause or outcome.message}"
        if outcome.exit_code == EXIT_COULD_NOT_START:  # and its summary was lost: the log tail says why
            return RunPhase.FAILED, "CouldNotStart", outcome.message
        if outcome.runner_completed:
            return RunPhase.FAILED, "AssetsFailed", self._tally(counts)
        return RunPhase.FAILED, outcome.reason, f"{outcome.message}; {self._tally(counts)}"

    def _tally(self, counts: AssetCounts) -> str:
        """``3 of 9 assets materialized, 1 failed (report: ValueError: no template), 2 skipped``."""
        parts = [f"{counts.materialized} of {counts.total} assets materialized"]
        if counts.failed:
            failed = [a for a in self.assets.values() if a.state == AssetRunState.FAILED]
            named = "; ".join(
                f"{a.key}: {cut_message(a.message or 'failed', _MAX_NAMED_ERROR_CHARS)}"
                for a in failed[:_NAMED_FAILURES]
            )
            more = f"; and {len(failed) - _NAMED_FAILURES} more" if len(failed) > _NAMED_FAILURES else ""
            parts.append(f"{counts.failed} failed ({named}{more})")
        if counts.skipped:
            parts.append(f"{counts.skipped} skipped")
        if counts.canceled:
            parts.append(f"{counts.canceled} canceled")
        return ", ".join(parts)


# --- helpers ----------------------------------------------------------------------------------------


def _cause(outcome: PodOutcome) -> str:
    """Why the never-started assets did not run, in a few words: ``Pod was OOMKilled``."""
    short = {
        "OOMKilled": "the Pod was OOMKilled",
        "Evicted": "the Pod was evicted",
        "DeadlineExceeded": "the run timeout was exceeded",
        "Deleted": "the Pod was deleted",
        "NodeLost": "the Pod's node was lost",
        "StartTimeout": "the Pod did not start in time",
        "ContainerCannotRun": "the container could not run",
        "InitContainerFailed": "an init container failed",
    }.get(outcome.reason)
    if short is not None:
        return short
    if outcome.kind == PodOutcomeKind.NOT_STARTING:
        return f"the Pod could not start ({outcome.reason})"
    if outcome.exit_code is not None:
        return f"the Pod failed with exit code {outcome.exit_code}"
    return f"the Pod ended ({outcome.reason})"


def _before(moment: datetime, seconds: float) -> datetime | None:
    """``seconds`` before ``moment``; None when that is before the year 1 (a runner's clock gone wrong)."""
    try:
        return moment - timedelta(seconds=seconds)
    except OverflowError:
        return None


def _names(keys: Sequence[str]) -> str:
    shown = ", ".join(keys[:_NAMED_FAILURES])
    return shown + (f" and {len(keys) - _NAMED_FAILURES} more" if len(keys) > _NAMED_FAILURES else "")

"""What ``kubeasset launch --wait`` and ``kubeasset runs`` print about AssetRuns, as pure functions of the
objects read from the API server: progress lines for what changed since the last look, and tables.

Progress lines follow the style of the local ``kubeasset materialize`` (cli/progress.py), so a run looks the
same whether it ran in-process or in a Pod.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from kubeasset.api.assetrun import AssetRun, AssetRunState, RunAssetStatus, RunSummary
from kubeasset.api.common import MetadataEntry
from kubeasset.api.runs import RunPhase
from kubeasset.api.types import format_time
from kubeasset.cli.progress import format_metadata
from kubeasset.cli.table import render_table

#: The asset states a follower reports; Pending is where every asset starts, so it is not news.
_REPORTED: Final = frozenset(
    {
        AssetRunState.RUNNING,
        AssetRunState.MATERIALIZED,
        AssetRunState.FAILED,
        AssetRunState.SKIPPED,
        AssetRunState.CANCELED,
    }
)
_MAX_MESSAGE_CHARS: Final = 200

RUNS_HEADERS: Final = ("NAME", "JOB", "PHASE", "DONE", "FAILED", "TRIGGER", "STARTED", "DURATION", "AGE")
ASSET_HEADERS: Final = ("ASSET", "STATE", "DURATION", "DETAILS")


@dataclass(frozen=True)
class Reported:
    """What a follower has printed so far: the run's phase and each (asset, state) pair, so that every
    transition is printed once however often the same status is seen again (re-delivered watch events,
    a re-read after a reconnect)."""

    phase: RunPhase | None = None
    assets: frozenset[tuple[str, AssetRunState]] = field(default_factory=frozenset)


def progress_lines(reported: Reported, run: AssetRun) -> tuple[list[str], Reported]:
    """The lines to print for what ``run`` shows that ``reported`` has not, and the new ``Reported``.

    Example::

        lines, reported = progress_lines(Reported(), run)   # "run x Running: 3 asset(s)", "  started  a"
        lines, reported = progress_lines(reported, run)     # [] : nothing new
    """
    status = run.status
    if status is None:
        return [], reported
    lines: list[str] = []
    phase = status.phase
    if phase is not None and phase != reported.phase and not phase.is_finished:
        lines.append(_phase_line(run, phase))
    seen = set(reported.assets)
    for asset in status.assets or ():
        if asset.state in _REPORTED and (asset.key, asset.state) not in seen:
            seen.add((asset.key, asset.state))
            lines.append(asset_line(asset))
    return lines, Reported(phase if phase is not None else reported.phase, frozenset(seen))


def _phase_line(run: AssetRun, phase: RunPhase) -> str:
    status = run.status
    assert status is not None  # only called with a status
    name = run.metadata.name
    if phase is RunPhase.RUNNING:
        count = len(status.assets or ())
        detail = f"{count} asset(s)" if count else (status.message or "")
    elif phase is RunPhase.STARTING and status.pod_name:
        detail = f"pod {status.pod_name}" + (f" ({one_line(status.message)})" if status.message else "")
    else:
        detail = one_line(status.message) if status.message else ""
    return f"run {name} {phase.value}" + (f": {detail}" if detail else "")


def asset_line(asset: RunAssetStatus) -> str:
    """One asset's state as a progress line: ``  materialized  raw/orders in 0.12s  rows=500``."""
    duration = asset_duration(asset)
    took = f" in {duration:.2f}s" if duration is not None else ""
    if asset.state is AssetRunState.RUNNING:
        return f"  started       {asset.key}"
    if asset.state is AssetRunState.MATERIALIZED:
        details = metadata_summary(asset.metadata)
        return f"  materialized  {asset.key}{took}" + (f"  {details}" if details else "")
    word = asset.state.value.lower()
    reason = f": {one_line(asset.message)}" if asset.message else ""
    return f"  {word.ljust(12)}  {asset.key}{took if asset.state is AssetRunState.FAILED else ''}{reason}"


def asset_duration(asset: RunAssetStatus) -> float | None:
    """Seconds the asset ran: the runner's measure, else end minus start, else unknown."""
    if asset.duration_seconds is not None:
        return asset.duration_seconds
    if asset.start_time is not None and asset.end_time is not None:
        return max((asset.end_time - asset.start_time).total_seconds(), 0.0)
    return None


def metadata_summary(metadata: Mapping[str, MetadataEntry] | None) -> str:
    """``rows=500, source=...`` as ``kubeasset materialize`` prints it; an entry whose value does not fit
    its type (written by a newer runner) is shown as text rather than failing the display."""
    if not metadata:
        return ""
    safe = {
        name: entry if _fits(entry) else MetadataEntry(type="text", value=str(entry.value))
        for name, entry in metadata.items()
    }
    return format_metadata(safe)


def _fits(entry: MetadataEntry) -> bool:
    if entry.type != "duration":
        return True
    return isinstance(entry.value, int | float) and not isinstance(entry.value, bool)


def one_line(message: str | None) -> str:
    """A status message in one line: a traceback becomes its last line (the exception), long text is cut."""
    if not message:
        return ""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    text = lines[-1] if lines[0].startswith("Traceback") else " ".join(lines)
    return text if len(text) <= _MAX_MESSAGE_CHARS else text[: _MAX_MESSAGE_CHARS - 3] + "..."


def summary_of(run: AssetRun) -> RunSummary:
    """The run's counts: ``status.summary`` as written, else counted from ``status.assets``."""
    status = run.status
    if status is None:
        return RunSummary()
    return status.summary or RunSummary.of(status.assets or ())


def run_seconds(run: AssetRun, now: datetime) -> float | None:
    """How long the run has run: start to completion, or start to ``now`` while it runs."""
    status = run.status
    if status is None or status.start_time is None:
        return None
    end = status.completion_time or now
    return max((end - status.start_time).total_seconds(), 0.0)


def asset_rows(run: AssetRun) -> list[list[str]]:
    """One row per asset of the run, in execution order: key, state, duration, metadata or message."""
    rows = []
    for asset in (run.status.assets if run.status else None) or ():
        duration = asset_duration(asset)
        if asset.state is AssetRunState.MATERIALIZED:
            details = metadata_summary(asset.metadata)
        else:
            details = one_line(asset.message)
        rows.append([asset.key, asset.state.value, "-" if duration is None else f"{duration:.2f}s", details])
    return rows


def final_report(run: AssetRun, now: datetime) -> str:
    """What ``launch --wait`` prints once the run finished: the asset table, then one verdict line."""
    status = run.status
    phase = status.phase if status else None
    counts = summary_of(run)
    seconds = run_seconds(run, now)
    took = f" in {seconds:.2f}s" if seconds is not None else ""
    tally = (
        f"{counts.materialized} materialized, {counts.failed} failed, {counts.skipped} skipped"
        + (f", {counts.canceled} canceled" if counts.canceled else "")
        + f" of {counts.total}{took}"
    )
    if phase is RunPhase.SUCCEEDED:
        verdict = f"run {run.metadata.name} succeeded: {tally}"
    else:
        word = "CANCELED" if phase is RunPhase.CANCELED else "FAILED"
        reason = one_line(status.message if status else None)
        verdict = f"run {run.metadata.name} {word}: {reason + '; ' if reason else ''}{tally}"
    sections = []
    rows = asset_rows(run)
    if rows:
        sections += ["", render_table(ASSET_HEADERS, rows)]
    return "\n".join([*sections, "", verdict])


def human_duration(seconds: float) -> str:
    """A duration as kubectl prints ages (``apimachinery``'s HumanDuration): 45s, 3m20s, 15m, 5h10m, 3d."""
    whole = int(seconds)
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 120:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        rest = whole % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = whole // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = (hours // 24) % 365
        return f"{hours // 24 // 365}y{rest}d" if rest else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def newest_first(runs: Iterable[AssetRun]) -> list[AssetRun]:
    """Runs by creation time, newest first (the name breaks ties, so the order is stable)."""
    ordered = sorted(runs, key=lambda run: run.metadata.name or "", reverse=True)
    return sorted(ordered, key=_created, reverse=True)


def _created(run: AssetRun) -> float:
    created = run.metadata.creation_timestamp
    return created.timestamp() if created is not None else float("-inf")


def run_row(run: AssetRun, now: datetime) -> list[str]:
    """One line of ``kubeasset runs``: NAME, JOB, PHASE, DONE, FAILED, TRIGGER, STARTED, DURATION, AGE."""
    status = run.status
    counts = summary_of(run)
    seconds = run_seconds(run, now)
    created = run.metadata.creation_timestamp
    started = status.start_time if status else None
    job = run.spec.job or (f"({run.spec.code_location})" if run.spec.code_location else "")
    return [
        run.metadata.name or "",
        job,
        (status.phase.value if status and status.phase else "Pending"),
        f"{counts.materialized}/{counts.total}" if counts.total else "-",
        str(counts.failed),
        run.spec.trigger.type.value,
        format_time(started.replace(microsecond=0)) if started is not None else "-",
        human_duration(seconds) if seconds is not None else "-",
        human_duration((now - created).total_seconds()) if created is not None else "-",
    ]


def runs_table(runs: Sequence[AssetRun], now: datetime, *, with_namespace: bool = False) -> str:
    """The table of ``kubeasset runs``, newest first; with ``-A`` a NAMESPACE column comes first."""
    rows = []
    for run in newest_first(runs):
        row = run_row(run, now)
        rows.append([run.metadata.namespace or "", *row] if with_namespace else row)
    headers = ["NAMESPACE", *RUNS_HEADERS] if with_namespace else list(RUNS_HEADERS)
    return render_table(headers, rows)


def describe_run(run: AssetRun, now: datetime) -> str:
    """``kubeasset runs NAME``: the run's facts, its per-asset table, its message and its conditions."""
    status = run.status
    spec = run.spec
    counts = summary_of(run)
    seconds = run_seconds(run, now)
    facts: list[tuple[str, str]] = [
        ("Name", run.metadata.name or ""),
        ("Namespace", run.metadata.namespace or ""),
    ]
    if spec.job:
        facts.append(("Job", spec.job))
    if spec.code_location:
        facts.append(("Code location", spec.code_location))
    if spec.selection:
        facts.append(("Selection", spec.selection))
    trigger = spec.trigger
    cause = trigger.retry_of or (trigger.schedule if trigger.schedule else None) or trigger.sensor
    facts.append(("Trigger", trigger.type.value + (f" ({cause})" if cause else "")))
    if spec.tags:
        facts.append(("Tags", ", ".join(f"{key}={value}" for key, value in sorted(spec.tags.items()))))
    if spec.cancel:
        facts.append(("Cancel", "requested"))
    facts.append(("Phase", status.phase.value if status and status.phase else "Pending"))
    facts.append(
        (
            "Progress",
            f"{counts.materialized}/{counts.total} materialized, {counts.failed} failed, "
            f"{counts.skipped} skipped, {counts.canceled} canceled",
        )
    )
    if status is not None:
        if status.pod_name:
            facts.append(("Pod", status.pod_name))
        if status.attempts:
            facts.append(("Attempt", str(status.attempts)))
        if status.start_time:
            facts.append(("Started", format_time(status.start_time)))
        if status.completion_time:
            facts.append(("Completed", format_time(status.completion_time)))
    if seconds is not None:
        facts.append(("Duration", human_duration(seconds)))
    if run.metadata.creation_timestamp is not None:
        facts.append(("Age", human_duration((now - run.metadata.creation_timestamp).total_seconds())))
    width = max(len(label) for label, _ in facts) + 2
    sections = ["\n".join(f"{(label + ':').ljust(width)}{value}" for label, value in facts)]
    if status is not None and status.message:
        sections.append("Message:\n  " + "\n  ".join(status.message.strip().splitlines()))
    rows = asset_rows(run)
    sections.append(render_table(ASSET_HEADERS, rows) if rows else "Assets: none reported yet")
    conditions = status.conditions if status else []
    if conditions:
        condition_rows = [
            [
                condition.type,
                condition.status.value,
                condition.reason,
                format_time(condition.last_transition_time),
                one_line(condition.message),
            ]
            for condition in conditions
        ]
        sections.append(
            "Conditions:\n" + render_table(["TYPE", "STATUS", "REASON", "LAST TRANSITION", "MESSAGE"], condition_rows)
        )
    return "\n\n".join(sections)

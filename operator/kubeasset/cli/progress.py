"""Human-readable rendering of execution events: one line per event while a run goes, a table after."""

from __future__ import annotations

from typing import Any

import click

from kubeasset.cli.table import render_table
from kubeasset.sdk import (
    AssetFailed,
    AssetMaterialized,
    AssetSkipped,
    AssetStarted,
    AssetState,
    ExecutionEvent,
    MetadataValue,
    RunFinished,
    RunResult,
    RunStarted,
)

#: Metadata longer than this is cut in progress lines and tables (markdown reports, JSON documents).
_MAX_METADATA_CHARS = 60


class ProgressPrinter:
    """An ``on_event`` callback that prints each event as it happens (flushed, so pipes see it live)."""

    def __call__(self, event: ExecutionEvent) -> None:
        line = _describe(event)
        if line is not None:
            click.echo(line)


def _describe(event: ExecutionEvent) -> str | None:
    if isinstance(event, RunStarted):
        return f"run {event.run_name}: {len(event.asset_keys)} asset(s)"
    if isinstance(event, AssetStarted):
        return f"  started       {event.asset_key}"
    if isinstance(event, AssetMaterialized):
        details = format_metadata(event.metadata)
        suffix = f"  {details}" if details else ""
        return f"  materialized  {event.asset_key} in {event.duration_seconds:.2f}s{suffix}"
    if isinstance(event, AssetFailed):
        return f"  failed        {event.asset_key}: {event.error.one_line()}"
    if isinstance(event, AssetSkipped):
        because = ", ".join(str(key) for key in event.failed_upstream)
        return f"  skipped       {event.asset_key}: upstream {because} did not materialize"
    if isinstance(event, RunFinished):
        return None  # the summary table follows
    return None


def format_metadata(metadata: Any) -> str:
    """``rows=500, source=https://...``: metadata in one line, long values cut."""
    parts = []
    for name, value in metadata.items():
        text = _format_value(value)
        if len(text) > _MAX_METADATA_CHARS:
            text = text[: _MAX_METADATA_CHARS - 3] + "..."
        parts.append(f"{name}={text}")
    return ", ".join(parts)


def _format_value(value: MetadataValue) -> str:
    if value.type in ("md", "text"):
        return " ".join(str(value.value).split())
    if value.type == "duration":
        return f"{float(value.value):.2f}s"
    return str(value.value)


def render_summary(result: RunResult) -> str:
    """The table printed after a run, then the errors' tracebacks, then one line of counts."""
    rows = []
    for key, asset in result.asset_results.items():
        if asset.state is AssetState.MATERIALIZED:
            detail = format_metadata(asset.metadata)
        elif asset.error is not None:
            detail = asset.error.one_line()
        elif asset.failed_upstream:
            detail = "upstream " + ", ".join(str(k) for k in asset.failed_upstream) + " did not materialize"
        else:
            detail = ""
        duration = f"{asset.duration_seconds:.2f}s" if asset.state is not AssetState.SKIPPED else "-"
        rows.append([str(key), asset.state.value, duration, detail])
    sections = ["", render_table(["ASSET", "STATE", "DURATION", "DETAILS"], rows)]
    for key, asset in result.asset_results.items():
        # kubeasset's own errors (a missing stored value, ...) say all in one line; user code's keep the
        # traceback, which is what a person needs to debug their asset.
        if asset.error is not None and not asset.error.type.startswith("kubeasset."):
            sections += ["", f"{key} failed:", asset.error.traceback.rstrip()]
    counts = result.counts
    verdict = "succeeded" if result.success else "FAILED"
    sections += [
        "",
        f"run {result.run_name} {verdict}: {counts.get('materialized', 0)} materialized, "
        f"{counts.get('failed', 0)} failed, {counts.get('skipped', 0)} skipped "
        f"of {counts['total']} in {result.duration_seconds:.2f}s",
    ]
    return "\n".join(sections)

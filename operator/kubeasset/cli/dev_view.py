"""What ``kubeasset dev`` prints while it runs, as a pure function of what it observes: each look at the
cluster (CodeLocations, AssetJobs, AssetRuns, Warning Events) becomes the lines for what changed since the
previous look, so a person sees discovery, job resolution, run progress and problems as they happen.

Example::

    view = DevView()
    lines, view = view.update(Observation(locations=[...], jobs=[...], runs=[...], warnings=[...]), now)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

from kubeasset.api.assetjob import AssetJob
from kubeasset.api.assetrun import AssetRun
from kubeasset.api.codelocation import CodeLocation
from kubeasset.api.conditions import READY, ConditionStatus, find_condition
from kubeasset.api.resource import KubeResource
from kubeasset.cli.run_display import Reported, final_report, one_line, progress_lines

_Resource = TypeVar("_Resource", bound=KubeResource)

#: How many asset keys a resolved job's line lists before "...".
_MAX_KEYS_SHOWN = 8


@dataclass(frozen=True)
class Observation:
    """One look at the cluster: kubeasset's objects (parsed) and Warning Events (as the API returns them)."""

    locations: Sequence[CodeLocation] = ()
    jobs: Sequence[AssetJob] = ()
    runs: Sequence[AssetRun] = ()
    warnings: Sequence[Mapping[str, Any]] = ()


@dataclass(frozen=True)
class DevView:
    """What has been printed so far: the last line per CodeLocation and AssetJob (a line is printed when
    it would read differently), the transitions of each run, and the Warning Events (uid, count) shown."""

    locations: Mapping[str, str] = field(default_factory=dict)
    jobs: Mapping[str, str] = field(default_factory=dict)
    runs: Mapping[str, Reported] = field(default_factory=dict)
    finished_runs: frozenset[str] = frozenset()
    warnings: frozenset[tuple[str, int]] = frozenset()

    def update(self, observation: Observation, now: datetime) -> tuple[list[str], DevView]:
        """The lines for what ``observation`` shows that this view has not printed, and the new view."""
        lines: list[str] = []
        locations = dict(self.locations)
        for location in _by_name(observation.locations):
            key, line = _name(location), location_line(location)
            if locations.get(key) != line:
                locations[key] = line
                lines.append(line)
        jobs = dict(self.jobs)
        for job in _by_name(observation.jobs):
            key, line = _name(job), job_line(job)
            if jobs.get(key) != line:
                jobs[key] = line
                lines.append(line)
        runs = dict(self.runs)
        finished = set(self.finished_runs)
        for run in _by_created(observation.runs):
            key = _name(run)
            if key not in runs:
                lines.append(new_run_line(run))
                runs[key] = Reported()
            progress, runs[key] = progress_lines(runs[key], run)
            lines += [_run_progress(run, line) for line in progress]
            phase = run.status.phase if run.status else None
            if phase is not None and phase.is_finished and key not in finished:
                finished.add(key)
                lines.append(final_report(run, now).splitlines()[-1])
        shown = set(self.warnings)
        for event in sorted(observation.warnings, key=_event_time):
            identity = (str(event.get("metadata", {}).get("uid", "")), int(event.get("count") or 1))
            if identity not in shown:
                shown.add(identity)
                lines.append(warning_line(event))
        view = replace(
            self,
            locations=locations,
            jobs=jobs,
            runs=runs,
            finished_runs=frozenset(finished),
            warnings=frozenset(shown),
        )
        return lines, view


def location_line(location: CodeLocation) -> str:
    """``codelocation default/shop Ready: 9 assets in groups marketing, sales; jobs marketing_job, sales_job``,
    ``codelocation default/shop not ready (DiscoveryFailed): ...``, or ``... discovering``."""
    status = location.status
    ready = find_condition(status.conditions if status else [], READY)
    head = f"codelocation {_name(location)}"
    if ready is None:
        return f"{head} discovering (module {location.spec.module})"
    if ready.status is ConditionStatus.TRUE:
        assets = status.assets if status else None
        count = assets.count if assets else 0
        groups = f" in groups {', '.join(assets.groups)}" if assets and assets.groups else ""
        jobs = sorted(job.name for job in (status.jobs or ())) if status else []
        code_jobs = f"; jobs {', '.join(jobs)}" if jobs else ""
        return f"{head} Ready: {count} assets{groups}{code_jobs}"
    return f"{head} not ready ({ready.reason}): {one_line(ready.message)}"


def job_line(job: AssetJob) -> str:
    """``assetjob default/sales-job resolved: 5 assets (raw/orders, ...)`` or why it is not ready."""
    status = job.status
    ready = find_condition(status.conditions if status else [], READY)
    head = f"assetjob {_name(job)}"
    if ready is None:
        return f"{head} waiting for code location {job.spec.code_location}"
    if ready.status is ConditionStatus.TRUE:
        keys = list((status.assets if status else None) or ())
        shown = ", ".join(keys[:_MAX_KEYS_SHOWN]) + (", ..." if len(keys) > _MAX_KEYS_SHOWN else "")
        count = status.asset_count if status and status.asset_count is not None else len(keys)
        return f"{head} resolved: {count} assets" + (f" ({shown})" if shown else "")
    return f"{head} not ready ({ready.reason}): {one_line(ready.message)}"


def new_run_line(run: AssetRun) -> str:
    """The first line about a run: what it runs and its phase."""
    spec = run.spec
    what = f"job {spec.job}" if spec.job else f"code location {spec.code_location}"
    if spec.selection:
        what += f", selection {spec.selection}"
    phase = run.status.phase.value if run.status and run.status.phase else "Pending"
    return f"assetrun {_name(run)} ({what}, trigger {spec.trigger.type.value}): {phase}"


def warning_line(event: Mapping[str, Any]) -> str:
    """``warning CodeLocation default/shop DiscoveryFailed: ...`` (``(x3)`` when repeated)."""
    involved = event.get("involvedObject") or {}
    namespace = involved.get("namespace")
    name = f"{namespace}/{involved.get('name')}" if namespace else str(involved.get("name"))
    count = int(event.get("count") or 1)
    repeated = f" (x{count})" if count > 1 else ""
    return (
        f"warning {involved.get('kind', '')} {name} {event.get('reason', '')}{repeated}: "
        f"{one_line(str(event.get('message') or event.get('note') or ''))}"
    )


def _run_progress(run: AssetRun, line: str) -> str:
    # run_display's asset lines are indented under their run; here runs interleave, so each names its run
    if line.startswith("  "):
        return f"run {run.metadata.name} {line.strip()}"
    return line


def _name(resource: KubeResource) -> str:
    return f"{resource.metadata.namespace or 'default'}/{resource.metadata.name}"


def _by_name(resources: Sequence[_Resource]) -> list[_Resource]:
    return sorted(resources, key=_name)


def _by_created(runs: Sequence[AssetRun]) -> list[AssetRun]:
    def created(run: AssetRun) -> tuple[float, str]:
        stamp = run.metadata.creation_timestamp
        return (stamp.timestamp() if stamp else 0.0, _name(run))

    return sorted(runs, key=created)


def _event_time(event: Mapping[str, Any]) -> str:
    # RFC 3339 text in UTC sorts in time order
    return str(event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp") or "")

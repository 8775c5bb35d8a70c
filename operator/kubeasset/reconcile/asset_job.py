"""Reconciling an AssetJob: resolve its selection against its code location's graph (with the selection
code the SDK uses, so a job selects in the cluster exactly what it selects in a test) and report the
ordered asset list, or why there is none, in its status.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from kubeasset.api.assetjob import AssetJob, AssetJobStatus
from kubeasset.api.assetrun import AssetRun
from kubeasset.api.codelocation import CodeJob, CodeLocation
from kubeasset.api.conditions import READY, ConditionStatus, find_condition, set_condition
from kubeasset.api.runs import RunReference
from kubeasset.api.types import MAX_ASSETS
from kubeasset.errors import SelectionError
from kubeasset.graph import AssetGraph, AssetKey
from kubeasset.reconcile.plan_items import Event, EventType
from kubeasset.reconcile.trigger_runs import run_reference
from kubeasset.selection import resolve_selection

# Ready reasons of an AssetJob.
RESOLVED: Final = "Resolved"
#: The selection does not parse or uses a filter kubeasset does not support; the message has the column.
INVALID_SELECTION: Final = "InvalidSelection"
#: The selection parses but matches no asset.
EMPTY_SELECTION: Final = "EmptySelection"
#: The selection matches more assets than one run may hold.
TOO_MANY_ASSETS: Final = "TooManyAssets"
#: No CodeLocation of that name in the job's namespace.
CODE_LOCATION_NOT_FOUND: Final = "CodeLocationNotFound"
#: The code location has no graph yet (first discovery running or failed, catalog being written).
WAITING_FOR_CODE_LOCATION: Final = "WaitingForCodeLocation"
#: The job refers to a job defined in code that the code location does not define.
UNKNOWN_CODE_JOB: Final = "UnknownCodeJob"

#: Most characters of resolved keys in a status (with MAX_ASSETS long keys a status could pass 1.5 MB).
MAX_RESOLVED_KEY_CHARS: Final = 512 * 1024
#: How often a job waiting for its code location looks again (location changes also trigger it).
WAIT_REQUEUE_SECONDS: Final = 30.0
#: How long a job waits after its runs' events before it updates ``lastRun``: at 50 runs/s of one job this
#: is one job reconcile (and status write) a second, not one or two per run.
LAST_RUN_DEBOUNCE_SECONDS: Final = 1.0
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class AssetJobPlan:
    """The job's desired status, its resolved keys (empty unless Ready), Events, and when to look again."""

    status: AssetJobStatus
    resolved: tuple[AssetKey, ...]
    events: tuple[Event, ...]
    requeue_after: float | None


def plan_asset_job(
    job: AssetJob,
    location: CodeLocation | None,
    graph: AssetGraph | None,
    code_jobs: Sequence[CodeJob] | None,
    now: datetime,
    *,
    runs: Sequence[AssetRun] | None = None,
) -> AssetJobPlan:
    """Resolve ``job`` against ``graph``, the graph of ``location`` rebuilt from its Asset objects
    (``catalog.graph_from_assets``; None when there is none or it is incomplete).

    ``code_jobs`` are the jobs defined in code (``location.status.jobs`` when None); a job that refers to
    one (``spec.codeJob``) uses its selection. Ready is True with the keys in
    topological order, or False with reason InvalidSelection (the parser's message, column and caret),
    EmptySelection, TooManyAssets, CodeLocationNotFound, UnknownCodeJob or WaitingForCodeLocation (the
    location was never discovered; a location whose last refresh failed still has its last graph, and
    jobs keep resolving against it). The previous list is kept only while waiting for the location.

    ``runs`` are the job's AssetRuns as observed: ``lastRun`` becomes the most recently created one (its
    phase and times as they are now; None when the job has no run); None leaves ``lastRun`` as it is.
    """
    status = job.status or AssetJobStatus()
    generation = job.metadata.generation
    location_name = job.spec.code_location
    location_hash = (
        location.status.assets.graph_hash if location and location.status and location.status.assets else None
    )

    def outcome(
        reason: str, message: str, keys: Sequence[AssetKey] = (), *, keep: bool = False, requeue: float | None = None
    ) -> AssetJobPlan:
        ready = ConditionStatus.TRUE if reason == RESOLVED else ConditionStatus.FALSE
        conditions = set_condition(
            status.conditions, READY, ready, reason=reason, message=message, now=now, observed_generation=generation
        )
        update: dict[str, object] = {"conditions": conditions, "observed_generation": generation}
        if runs is not None:
            update["last_run"] = last_run(runs)
        if reason == RESOLVED:
            update |= {
                "assets": [key.to_user_string() for key in keys],
                "asset_count": len(keys),
                "graph_hash": location_hash,
            }
        elif not keep:
            update |= {"assets": None, "asset_count": None, "graph_hash": None}
        new_status = status.model_copy(update=update)
        return AssetJobPlan(new_status, tuple(keys), _events(status, new_status), requeue)

    if location is None:
        return outcome(
            CODE_LOCATION_NOT_FOUND,
            f"code location {location_name!r} does not exist in this namespace; create it or fix spec.codeLocation",
            requeue=WAIT_REQUEUE_SECONDS,
        )
    if graph is None and location_hash is not None and not needs_graph(job, location):
        keys = [AssetKey.from_user_string(key) for key in status.assets or ()]
        return outcome(RESOLVED, _resolved_message(keys, location), keys)
    if graph is None or location_hash is None:
        return outcome(
            WAITING_FOR_CODE_LOCATION,
            _waiting_message(location, has_graph_hash=location_hash is not None),
            keep=True,
            requeue=WAIT_REQUEUE_SECONDS,
        )

    selection, source = job.spec.selection or "", "spec.selection"
    code_job_name = job.spec.code_job
    if code_job_name is not None:
        jobs = code_jobs if code_jobs is not None else (location.status.jobs if location.status else None) or []
        code_job = next((item for item in jobs if item.name == code_job_name), None)
        if code_job is None or code_job.selection is None:
            defined = ", ".join(sorted(item.name for item in jobs)) or "none"
            problem = "does not define" if code_job is None else "did not report the selection of"
            return outcome(
                UNKNOWN_CODE_JOB,
                f"code location {location_name!r} {problem} job {code_job_name!r} (jobs defined in code: {defined})",
            )
        selection, source = code_job.selection, f"the selection of job {code_job_name!r} in code"

    try:
        keys = resolve_selection(selection, graph)
    except SelectionError as error:
        # SelectionSyntaxError's message already carries the column and a caret under the text.
        return outcome(INVALID_SELECTION, f"{source} is invalid: {error}")
    if not keys:
        groups = sorted({spec.group_name for spec in graph.specs.values()})
        shown = ", ".join(groups[:10]) + (", ..." if len(groups) > 10 else "")
        return outcome(
            EMPTY_SELECTION,
            f"{source} {selection!r} matches none of the {len(graph)} assets of code location {location_name!r} "
            f"(groups: {shown})",
        )
    size = sum(len(key.to_user_string()) for key in keys)
    if len(keys) > MAX_ASSETS or size > MAX_RESOLVED_KEY_CHARS:
        return outcome(
            TOO_MANY_ASSETS,
            f"{source} selects {len(keys)} assets ({size} characters of keys); a job runs at most {MAX_ASSETS} "
            f"assets and {MAX_RESOLVED_KEY_CHARS} characters of keys: narrow the selection or split the job",
        )
    return outcome(RESOLVED, _resolved_message(keys, location), keys)


def needs_graph(job: AssetJob, location: CodeLocation | None) -> bool:
    """Whether planning ``job`` needs its location's graph (the controller then builds it, which for a large
    location is its largest allocation). Not when the status already holds the resolution of the job's
    current spec against the location's current graph hash: :func:`plan_asset_job` then keeps that list.
    Always for a job that uses a job defined in code (``spec.codeJob``): that job's selection can change
    while the graph stays the same.

    Example::

        graph = cache.graph(...) if needs_graph(job, location) else None
        plan_asset_job(job, location, graph, None, now)
    """
    status = job.status
    if location is None or job.spec.code_job is not None or status is None or status.assets is None:
        return True
    location_hash = location.status.assets.graph_hash if location.status and location.status.assets else None
    ready = find_condition(status.conditions, READY)
    return not (
        location_hash is not None
        and status.graph_hash == location_hash
        and status.observed_generation == job.metadata.generation
        and ready is not None
        and ready.status == ConditionStatus.TRUE
        and ready.reason == RESOLVED
    )


def _resolved_message(keys: Sequence[AssetKey], location: CodeLocation) -> str:
    message = f"{len(keys)} {'asset' if len(keys) == 1 else 'assets'} of code location {location.metadata.name!r}"
    ready = find_condition(location.status.conditions if location.status else [], READY)
    if ready is not None and ready.status != ConditionStatus.TRUE:
        message += f" (resolved against its last discovered graph; the code location is not Ready: {ready.reason})"
    return message


def last_run(runs: Sequence[AssetRun]) -> RunReference | None:
    """The most recently created of ``runs`` (ties: the greatest name), as a ``lastRun`` entry."""
    if not runs:
        return None
    newest = max(runs, key=_creation_order)
    return run_reference(newest)


def last_run_may_change(
    shown: RunReference | None, run: AssetRun, *, deleted: bool, shown_run: AssetRun | None
) -> bool:
    """Whether an event of ``run`` (one of the job's runs) can change the job's ``lastRun``, ``shown`` as
    its status says now; ``shown_run`` is the run ``shown`` names, as the cache has it (None: gone).

    The job's status is the only thing its runs move, so a run event that leaves ``lastRun`` as it is
    needs no job reconcile (most of a run's events: each status write of a run in progress). When in
    doubt (no ``lastRun`` yet, the run it names is gone) the answer is yes.

    Example::

        if last_run_may_change(job.status.last_run, run, deleted=False, shown_run=cache.run(ns, name)):
            queue.add(job_key)
    """
    if shown is None or shown_run is None:
        return not deleted or shown is not None
    name = run.metadata.name or ""
    if shown.name == name:
        return deleted or run_reference(run) != shown
    # Another run is shown: only a newer run replaces it; deleting an older one changes nothing.
    return not deleted and _creation_order(run) > _creation_order(shown_run)


def _creation_order(run: AssetRun) -> tuple[datetime, str]:
    return (run.metadata.creation_timestamp or _EPOCH, run.metadata.name or "")


def _waiting_message(location: CodeLocation, *, has_graph_hash: bool) -> str:
    name = location.metadata.name
    if has_graph_hash:
        return f"waiting for code location {name!r}: its Asset catalog is incomplete (being written)"
    ready = find_condition(location.status.conditions if location.status else [], READY)
    if ready is None:
        return f"waiting for code location {name!r} to be discovered"
    return f"waiting for code location {name!r} to be discovered: {ready.reason}: {ready.message}"


def _events(old: AssetJobStatus, new: AssetJobStatus) -> tuple[Event, ...]:
    before, after = find_condition(old.conditions, READY), find_condition(new.conditions, READY)
    if after is None or (
        before is not None
        and (before.status, before.reason, before.message) == (after.status, after.reason, after.message)
    ):
        return ()
    kind = EventType.NORMAL if after.status == ConditionStatus.TRUE else EventType.WARNING
    return (Event(kind, after.reason, after.message),)

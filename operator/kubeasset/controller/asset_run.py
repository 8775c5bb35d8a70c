"""Reconciling one AssetRun: gather what the cache, the run's Pod and its log say, let
:func:`kubeasset.reconcile.asset_run.plan_asset_run` decide, and apply the plan in the order its module
documents: create the Pod or the retry run (409 is success), write the Asset catalog, patch the run's
status (only when it differs), post the Events, then delete (the Pod, runs beyond the history limits).

What is observed: the run, its AssetJob and CodeLocation (cache); ``spec.selection`` resolved over the
location's graph (rebuilt from the Asset catalog, only while the run has no Pod yet); the run's Pod (the
cache's run Pod named after the run; one owned by an earlier run of that name is shown too, and the
planner waits for it to go); the runner's events so far (kubeasset.controller.run_logs follows the log);
the termination summary once the container has ended; the job's other runs (concurrency, history).

Once the run container has ended, the final status waits until its log was read to the end (at most
LOG_SETTLE_SECONDS after the container ended): the summary alone knows each asset's state but not its
metadata. Cost per reconcile: no API read (except one GET to confirm a Pod that vanished from the cache),
at most one status patch, the catalog writes of assets that newly materialized or failed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from kubeasset.api.asset import Asset, AssetStatus
from kubeasset.api.assetrun import AssetRun, AssetRunState
from kubeasset.api.codelocation import CodeLocation
from kubeasset.api.runs import RunPhase
from kubeasset.controller.kube import PODS, kind_of
from kubeasset.controller.run_logs import LogSnapshot, container_ended, container_started, termination_message
from kubeasset.controller.run_memory import RunMemory
from kubeasset.controller.runtime import Controller, involved
from kubeasset.controller.workqueue import ObjectKey
from kubeasset.errors import GraphError, InvalidAssetKeyError, ProtocolError, SelectionError
from kubeasset.reconcile.asset_run import RunObservation, RunPlan, plan_asset_run
from kubeasset.reconcile.catalog import apply_materialization, refresh_asset_status
from kubeasset.reconcile.naming import run_pod_name
from kubeasset.reconcile.run_catalog import CatalogUpdate
from kubeasset.sdk.runner_protocol import RunSummary, parse_run_summary
from kubeasset.selection import resolve_selection

log = logging.getLogger("kubeasset.controller")

RUNS: Final = kind_of(AssetRun)
ASSETS: Final = kind_of(Asset)
#: How long after its container ended a run waits for the rest of its log before its final status.
LOG_SETTLE_SECONDS: Final = 20.0
#: How soon a run waiting for its log looks again (the follower also wakes it when done).
LOG_WAIT_SECONDS: Final = 1.0
#: At most this many catalog writes of one run are in flight at once.
CATALOG_CONCURRENCY: Final = 8


async def reconcile_asset_run(controller: Controller, key: ObjectKey) -> float | None:
    """One reconcile of the AssetRun ``key``; returns when to look again (None: on the next change)."""
    namespace, name = key.namespace, key.name
    cached = controller.cache.run(namespace, name)
    if cached is None:
        # Gone: the garbage collector deletes its Pod (ownerReference); forget what was kept for it.
        controller.run_memory.pop((namespace, name), None)
        controller.run_logs.forget_run(namespace, name)
        controller.written.forget(RUNS.kind, namespace, name)
        return None
    if cached.metadata.deletion_timestamp is not None:
        return None
    run = _current(controller, cached)
    memory = controller.run_memory.get((namespace, name))
    if memory is None or memory.uid != run.metadata.uid:
        memory = controller.run_memory[(namespace, name)] = RunMemory(run.metadata.uid)
        controller.run_logs.forget_run(namespace, name)
    finished = run.status is not None and run.status.phase is not None and run.status.phase.is_finished
    now = controller.now()

    job = controller.cache.job(namespace, run.spec.job) if run.spec.job else None
    location_name = job.spec.code_location if job is not None else (run.spec.code_location or "")
    location = controller.cache.location(namespace, location_name) if location_name else None
    pod = _run_pod(controller, run)
    owned = pod is not None and _owned(pod, run)
    if owned:
        memory.pod_seen = True
    if pod is None and not finished and (memory.pod_seen or _pod_expected(run)):
        # The planner takes a missing Pod it knew as deleted: make sure it is not the cache lagging.
        fetched = await controller.io.get(PODS, namespace, run_pod_name(name))
        if fetched is not None and _owned(fetched, run):
            pod, owned = fetched, True

    snapshot: LogSnapshot | None = None
    summary: RunSummary | None = None
    if owned and pod is not None and not finished:
        uid = str(pod["metadata"]["uid"])
        controller.run_logs.follow(pod, name)
        snapshot = controller.run_logs.snapshot(uid)
        if container_ended(pod):
            summary = _summary(pod)
            wait = _log_wait(pod, snapshot, now)
            if wait is not None:
                return wait
        elif container_started(pod) and (snapshot is None or not snapshot.caught_up) and _has_progress(run):
            # After a restart the log is replayed first: planning on half of it would show assets that
            # finished as Pending again for a moment.
            return LOG_WAIT_SECONDS
    elif pod is None and not finished:
        snapshot = _deleted_pod_snapshot(controller, run)
        if snapshot is not None and snapshot.following:
            return LOG_WAIT_SECONDS  # the deleted Pod's stream is being drained (e.g. a canceled run)

    selected_keys, selection_error = None, None
    if run.spec.selection and not finished and pod is None and not memory.pod_seen and location is not None:
        selected_keys, selection_error = await _resolve(controller, namespace, location, run.spec.selection)
    assets = controller.cache.assets(namespace, location_name) if location_name else []
    observed = RunObservation(
        job=job,
        location=location,
        selected_keys=selected_keys,
        selection_error=selection_error,
        pod=pod,
        pod_seen=memory.pod_seen,
        events=snapshot.events if snapshot is not None else (),
        unreadable_lines=snapshot.unreadable_lines if snapshot is not None else 0,
        summary=summary,
        job_runs=controller.cache.runs_of_job(namespace, run.spec.job) if run.spec.job else (),
        max_concurrent_runs=controller.max_concurrent_runs,
        unfinished_runs=controller.cache.unfinished_runs() if controller.max_concurrent_runs else (),
        defaults=controller.run_pod_defaults,
        code_versions={asset.spec.key: asset.spec.code_version for asset in assets},
    )
    plan = await asyncio.to_thread(plan_asset_run, run, observed, now)
    await _apply(controller, run, plan, memory, assets, now)
    if plan.status.phase is not None and plan.status.phase.is_finished:
        for candidate in controller.cache.run_pods(namespace, name):
            controller.run_logs.release(str(candidate["metadata"]["uid"]))
    return plan.requeue_after


async def _apply(
    controller: Controller, run: AssetRun, plan: RunPlan, memory: RunMemory, assets: list[Asset], now: datetime
) -> None:
    namespace = run.metadata.namespace or ""
    if plan.pod_to_create is not None:
        await controller.io.create(PODS, plan.pod_to_create)
        controller.metrics.pod_created(run)
    if plan.retry_run is not None:
        await controller.io.create(RUNS, plan.retry_run)
    if plan.catalog:
        await _apply_catalog(controller, namespace, plan.catalog, memory, assets, now)
    current = run.status.to_json() if run.status else {}
    metadata = {
        "namespace": namespace,
        "name": run.metadata.name,
        "resourceVersion": run.metadata.resource_version,
    }
    written = await controller.io.patch_status(RUNS, metadata, current, plan.status.to_json())
    if written is not None:
        controller.written.remember(
            RUNS.kind, namespace, run.metadata.name or "", based_on=run.metadata.resource_version, obj=written
        )
        if _becomes_final(run, plan):  # once: the write was guarded by the version that was not final yet
            controller.metrics.run_final(run, plan.status)
    for event in plan.events:
        await controller.events.record(involved(run), event)
    if plan.pod_to_delete is not None:
        await controller.io.delete(PODS, namespace, plan.pod_to_delete)
    for target in plan.runs_to_delete:
        await controller.io.delete(RUNS, namespace, target)


def _becomes_final(run: AssetRun, plan: RunPlan) -> bool:
    was_final = run.status is not None and run.status.phase is not None and run.status.phase.is_finished
    return not was_final and plan.status.phase is not None and plan.status.phase.is_finished


# --- observation -------------------------------------------------------------------------------------


def _current(controller: Controller, cached: AssetRun) -> AssetRun:
    """The run as last written by this controller while the cache still shows the version before."""
    metadata = cached.metadata
    written = controller.written.current(
        RUNS.kind, metadata.namespace or "", metadata.name or "", cached_version=metadata.resource_version
    )
    return AssetRun.model_validate(written) if written is not None else cached


def _run_pod(controller: Controller, run: AssetRun) -> dict[str, Any] | None:
    """The run's Pod: the one of its name owned by this run (not being deleted, if there are two), else one
    of its name owned by an earlier run of the same name (the planner waits for it to go)."""
    wanted = run_pod_name(run.metadata.name or "")
    pods = controller.cache.run_pods(run.metadata.namespace or "", run.metadata.name or "")
    named = [pod for pod in pods if pod["metadata"]["name"] == wanted]
    owned = [pod for pod in named if _owned(pod, run)]
    pool = owned or named
    alive = [pod for pod in pool if not pod["metadata"].get("deletionTimestamp")]
    chosen = alive or pool
    return chosen[-1] if chosen else None


def _owned(pod: Mapping[str, Any], run: AssetRun) -> bool:
    references = (pod.get("metadata") or {}).get("ownerReferences") or ()
    return any(reference.get("uid") == run.metadata.uid for reference in references)


def _has_progress(run: AssetRun) -> bool:
    """The status already shows an asset past Pending (what a replay from a partial log would undo)."""
    return any(asset.state != AssetRunState.PENDING for asset in (run.status.assets if run.status else None) or ())


def _pod_expected(run: AssetRun) -> bool:
    phase = run.status.phase if run.status else None
    return phase in (RunPhase.STARTING, RunPhase.RUNNING)


def _summary(pod: Mapping[str, Any]) -> RunSummary | None:
    """The runner's summary from the termination message; None when there is none or it is the tail of the
    log instead (FallbackToLogsOnError: the runner died before writing it)."""
    message = termination_message(pod)
    if not message:
        return None
    try:
        return parse_run_summary(message)
    except ProtocolError:
        return None


def _log_wait(pod: Mapping[str, Any], snapshot: LogSnapshot | None, now: datetime) -> float | None:
    """How long to wait for the rest of the log of a Pod whose container ended; None: plan now."""
    if snapshot is not None and snapshot.settled:
        return None
    if not container_started(pod):
        return None
    ended_at = _finished_at(pod)
    if ended_at is not None and now - ended_at >= timedelta(seconds=LOG_SETTLE_SECONDS):
        log.warning(
            "run Pod %s/%s: its log was not read to the end within %.0fs; the termination summary decides",
            pod["metadata"].get("namespace"),
            pod["metadata"].get("name"),
            LOG_SETTLE_SECONDS,
        )
        return None
    return LOG_WAIT_SECONDS


def _finished_at(pod: Mapping[str, Any]) -> datetime | None:
    for status in (pod.get("status") or {}).get("containerStatuses") or ():
        terminated = (status.get("state") or {}).get("terminated") or {}
        value = terminated.get("finishedAt")
        if isinstance(value, str) and value:
            try:
                moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                return None
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


def _deleted_pod_snapshot(controller: Controller, run: AssetRun) -> LogSnapshot | None:
    """What the log of the run's Pod said before the Pod was deleted (the follower keeps it by Pod uid)."""
    for candidate_uid in controller.run_logs.uids_of_run(run.metadata.namespace or "", run.metadata.name or ""):
        snapshot = controller.run_logs.snapshot(candidate_uid)
        if snapshot is not None:
            return snapshot
    return None


async def _resolve(
    controller: Controller, namespace: str, location: CodeLocation, selection: str
) -> tuple[list[str] | None, str | None]:
    """``selection`` resolved over the location's graph: (keys, None), (None, the error), or (None, None)
    while the graph cannot be built (the catalog is being written)."""
    name = location.metadata.name or ""
    assets = controller.cache.assets(namespace, name)
    try:
        graph = await asyncio.to_thread(controller.cache.graph, namespace, name, assets)
    except (GraphError, InvalidAssetKeyError):
        return None, None
    try:
        keys = await asyncio.to_thread(resolve_selection, selection, graph)
    except SelectionError as error:
        return None, str(error)
    return [key.to_user_string() for key in keys], None


# --- the catalog -------------------------------------------------------------------------------------


def _update_id(update: CatalogUpdate) -> tuple[str, str, str]:
    outcome = update.materialization or update.failure
    kind = "materialization" if update.materialization is not None else "failure"
    return (update.key, kind, outcome.time.isoformat() if outcome is not None else "")


async def _apply_catalog(
    controller: Controller,
    namespace: str,
    updates: Iterable[CatalogUpdate],
    memory: RunMemory,
    assets: list[Asset],
    now: datetime,
) -> None:
    """Record the run's new materializations and failures on the Asset objects (each once per controller
    lifetime; a replay after a restart is a no-op patch), then give them and their downstream assets an
    up-to-date state (a downstream asset materialized before this run is now Stale)."""
    pending = [update for update in updates if _update_id(update) not in memory.catalog_written]
    if not pending:
        return
    current = [_current_asset(controller, asset) for asset in assets]
    by_key = {asset.spec.key: asset for asset in current}
    statuses: dict[str, AssetStatus | None] = {asset.spec.key: asset.status for asset in current}
    touched: set[str] = set()
    for update in pending:
        outcome = update.materialization or update.failure
        if update.key not in by_key or outcome is None:
            continue  # not in the catalog (any more): nothing to record it on
        statuses[update.key] = apply_materialization(statuses[update.key], outcome, now)
        touched.add(update.key)
    downstream = {asset.spec.key for asset in current if touched.intersection(asset.spec.deps or ())}
    desired: dict[str, AssetStatus] = {}
    for key in sorted(touched | downstream):
        asset = by_key[key]
        upstream = [statuses.get(dep) for dep in asset.spec.deps or ()]
        desired[key] = refresh_asset_status(
            asset.spec, statuses[key], upstream, generation=asset.metadata.generation, now=now
        )
    semaphore = asyncio.Semaphore(CATALOG_CONCURRENCY)

    async def write(key: str) -> None:
        asset = by_key[key]
        metadata = {
            "namespace": namespace,
            "name": asset.metadata.name,
            "resourceVersion": asset.metadata.resource_version,
        }
        current_status = asset.status.to_json() if asset.status else {}
        async with semaphore:
            written = await controller.io.patch_status(ASSETS, metadata, current_status, desired[key].to_json())
        if written is not None:
            controller.written.remember(
                ASSETS.kind, namespace, asset.metadata.name or "", based_on=asset.metadata.resource_version, obj=written
            )

    results = await asyncio.gather(*(write(key) for key in desired), return_exceptions=True)
    failures = [result for result in results if isinstance(result, BaseException)]
    if failures:
        raise failures[0]  # the next reconcile writes the rest (the memory is updated only on success)
    memory.catalog_written.update(_update_id(update) for update in pending)


def _current_asset(controller: Controller, asset: Asset) -> Asset:
    metadata = asset.metadata
    written = controller.written.current(
        ASSETS.kind, metadata.namespace or "", metadata.name or "", cached_version=metadata.resource_version
    )
    return Asset.model_validate(written) if written is not None else asset

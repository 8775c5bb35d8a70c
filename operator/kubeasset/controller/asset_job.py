"""Reconciling one AssetJob: its code location and that location's graph (rebuilt from the Asset catalog in
the cache) go to :func:`kubeasset.reconcile.asset_job.plan_asset_job`; the controller writes the status
when it differs and posts the plan's Events.

Cost per reconcile: no API read (the cache; the graph is rebuilt only when an Asset's spec changed, and not
needed at all while the status holds the resolution of the current spec against the location's current
graph hash), at most one status patch. A job is reconciled when it changes, when its CodeLocation changes (status
included: a new graph hash), and, debounced, when its location's Assets appear, change spec or go, or
when one of its runs is created, changes phase or times, or is deleted in a way that moves ``lastRun``.
While the cache still shows the job as it was before the controller's own status write, the written job
is planned on (so the same status is not written twice).
"""

from __future__ import annotations

import asyncio
from typing import Final

from kubeasset.api.assetjob import AssetJob
from kubeasset.controller.kube import kind_of
from kubeasset.controller.runtime import Controller, involved
from kubeasset.controller.workqueue import ObjectKey
from kubeasset.errors import GraphError, InvalidAssetKeyError
from kubeasset.graph import AssetGraph
from kubeasset.reconcile.asset_job import needs_graph, plan_asset_job

JOBS: Final = kind_of(AssetJob)


async def reconcile_asset_job(controller: Controller, key: ObjectKey) -> float | None:
    """One reconcile of the AssetJob ``key``; returns when to look again (None: on the next change)."""
    cached = controller.cache.job(key.namespace, key.name)
    if cached is None or cached.metadata.deletion_timestamp is not None:
        controller.written.forget(JOBS.kind, key.namespace, key.name)
        return None
    written = controller.written.current(
        JOBS.kind, key.namespace, key.name, cached_version=cached.metadata.resource_version
    )
    job = AssetJob.model_validate(written) if written is not None else cached
    location = controller.cache.location(key.namespace, job.spec.code_location)
    graph: AssetGraph | None = None
    if location is not None and needs_graph(job, location):
        try:
            assets = controller.cache.assets(key.namespace, job.spec.code_location)
            graph = await asyncio.to_thread(controller.cache.graph, key.namespace, job.spec.code_location, assets)
        except (GraphError, InvalidAssetKeyError):
            graph = None  # the catalog is being written or was damaged: the plan waits for the location
    runs = controller.cache.runs_of_job(key.namespace, key.name)
    plan = plan_asset_job(job, location, graph, None, controller.now(), runs=runs)
    metadata = {
        "namespace": job.metadata.namespace,
        "name": job.metadata.name,
        "resourceVersion": job.metadata.resource_version,
    }
    current = job.status.to_json() if job.status else {}
    patched = await controller.io.patch_status(JOBS, metadata, current, plan.status.to_json())
    if patched is not None:
        controller.written.remember(
            JOBS.kind, key.namespace, key.name, based_on=cached.metadata.resource_version, obj=patched
        )
    for event in plan.events:
        await controller.events.record(involved(job), event)
    return plan.requeue_after

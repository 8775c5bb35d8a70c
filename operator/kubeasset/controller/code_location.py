"""Reconciling one CodeLocation: gather what the cache and the discovery Pod's log say, let
:func:`kubeasset.reconcile.code_location.plan_code_location` decide, and apply the plan in a safe order:
discovery Pods, then the Asset catalog (with each new or changed Asset's initial status), then the
location's status, then Events. The status is written last so that whoever reads ``Ready=True`` with a
graph hash finds the whole catalog of that graph.

Cost per reconcile: no list call (the cache); one log read per finished discovery Pod per controller
lifetime (parsed once, cached by Pod uid); the writes the plan asks for (usually none); at most one status
patch. Planning and parsing run in a worker thread. The catalog of a graph is built and compared in full
once; later plans over the same graph compare resource versions with what the location's CatalogMemo
saw or wrote, so the reconciles that follow a 10,000-asset discovery cost milliseconds, not a second.

Each new Asset costs two writes, its create and its status (a create ignores the status subresource):
the status is written before the location turns Ready, so every Asset of a Ready location says Missing,
Materialized, Failed or Stale. The API server is the bound here, not the controller.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable, Mapping
from datetime import datetime
from typing import Any, Final

from kubernetes.client.exceptions import ApiException

from kubeasset.api.asset import Asset, AssetStatus
from kubeasset.api.codelocation import CodeLocation
from kubeasset.controller.housekeeping import release_free_memory
from kubeasset.controller.kube import PODS, kind_of
from kubeasset.controller.merge_patch import merge_patch
from kubeasset.controller.runtime import Controller, DiscoveryMemory, involved
from kubeasset.controller.workqueue import ObjectKey
from kubeasset.reconcile.catalog import CatalogChanges, CatalogMemo, initial_asset_status, refresh_asset_status
from kubeasset.reconcile.code_location import DiscoveryObservation, plan_code_location
from kubeasset.reconcile.discovery import DISCOVERY_CONTAINER
from kubeasset.reconcile.discovery_result import DiscoveryResult, parse_discovery
from kubeasset.reconcile.naming import discovery_pod_name
from kubeasset.reconcile.plan_items import ObjectId
from kubeasset.reconcile.pod_outcome import PodOutcome, PodOutcomeKind, classify_pod

log = logging.getLogger("kubeasset.controller")

ASSETS: Final = kind_of(Asset)
LOCATIONS: Final = kind_of(CodeLocation)
#: Reading a finished discovery Pod's log may fail while its node is briefly unreachable; after this
#: many failures in a row the discovery counts as "output could not be read" (and is retried later).
MAX_LOG_READ_FAILURES: Final = 5
#: At most this many catalog writes are in flight at once. KubeIO allows 16 calls in flight in all; more here
#: would only queue there (and hold back every other reconcile's calls); fewer measured no slower.
CATALOG_CONCURRENCY: Final = 16


async def reconcile_code_location(controller: Controller, key: ObjectKey) -> float | None:
    """One reconcile of the CodeLocation ``key``; returns when to look again (None: on the next change)."""
    namespace, name = key.namespace, key.name
    location = controller.cache.location(namespace, name)
    if location is None or location.metadata.deletion_timestamp is not None:
        # Gone or going: the garbage collector removes its Pods and Assets (ownerReferences).
        controller.discovery.pop((namespace, name), None)
        controller.cache.forget_graph(namespace, name)
        return None
    now = controller.now()
    pods = controller.cache.discovery_pods(namespace, name)
    memory = controller.discovery.setdefault((namespace, name), DiscoveryMemory())
    memory.keep_only({str(pod["metadata"]["uid"]) for pod in pods})

    current_name = discovery_pod_name(location, now)
    pod = next((candidate for candidate in pods if candidate["metadata"]["name"] == current_name), None)
    others = [
        ObjectId(other["metadata"]["name"], other["metadata"]["uid"])
        for other in pods
        if other["metadata"]["name"] != current_name
    ]
    outcome = classify_pod(pod, now=now, start_timeout_seconds=None, container=DISCOVERY_CONTAINER)
    result = None
    if pod is not None and outcome.kind in (PodOutcomeKind.SUCCEEDED, PodOutcomeKind.FAILED):
        result = await _discovery_result(controller, memory, location, pod, outcome)
    assets = controller.cache.assets(namespace, name)
    observed = DiscoveryObservation(pod=outcome, result=result, other_pods=others, assets=assets)
    plan = await asyncio.to_thread(
        plan_code_location,
        location,
        observed,
        now,
        defaults=controller.discovery_defaults,
        catalog_memo=memory.catalog,
    )

    for target in plan.delete:
        await controller.io.delete(PODS, namespace, target)
    for manifest in plan.create:
        await controller.io.create(PODS, manifest)
    await _apply_catalog(controller, namespace, plan.catalog, assets, now, memory.catalog)
    if plan.catalog_graph is not None:
        await asyncio.to_thread(controller.cache.use_graph, namespace, name, assets, plan.catalog_graph)
    current_status = location.status.to_json() if location.status else {}
    await controller.io.patch_status(LOCATIONS, _meta(location), current_status, plan.status.to_json())
    for event in plan.events:
        await controller.events.record(involved(location), event)
    return plan.requeue_after


async def _discovery_result(
    controller: Controller, memory: DiscoveryMemory, location: CodeLocation, pod: Mapping[str, Any], outcome: PodOutcome
) -> DiscoveryResult | None:
    """The parsed output of a finished discovery Pod, read once per Pod (by uid)."""
    uid = str(pod["metadata"]["uid"])
    if uid in memory.results:
        return memory.results[uid]
    try:
        metadata = pod["metadata"]
        text = await controller.io.read_pod_log(metadata["namespace"], metadata["name"], DISCOVERY_CONTAINER)
    except ApiException as error:
        failures = memory.log_failures[uid] = memory.log_failures.get(uid, 0) + 1
        if failures < MAX_LOG_READ_FAILURES:
            raise  # temporary: the queue retries with back-off
        log.warning("giving up reading the log of discovery Pod %s: %s", pod["metadata"]["name"], error)
        return None
    result = await asyncio.to_thread(
        parse_discovery, text, outcome.termination_message, outcome.exit_code, location_name=location.metadata.name
    )
    memory.results[uid] = result
    del text
    await asyncio.to_thread(release_free_memory)  # the log and its parse: megabytes for a large location
    return result


async def _apply_catalog(
    controller: Controller,
    namespace: str,
    changes: CatalogChanges,
    existing: Iterable[Asset],
    now: datetime,
    memo: CatalogMemo,
) -> None:
    """Create, update and delete Asset objects, and give every Asset whose spec is new to its status an
    up-to-date status (state, Materialized condition, observedGeneration); ``memo`` learns what was
    written."""
    by_name = {asset.metadata.name: asset for asset in existing}
    statuses = {asset.spec.key: asset.status for asset in by_name.values()}
    # A new Asset's status (Missing) depends on its generation only: built once, not parsed per object.
    initial: dict[int | None, dict[str, Any]] = {}

    async def create(manifest: Mapping[str, Any]) -> None:
        written = await controller.io.create(ASSETS, manifest)
        memo.written(manifest, written)
        if written.get("status"):
            # It existed already (a create racing the cache): its status may hold materializations.
            await _refresh_status(controller, Asset.model_validate(written), statuses, now, memo)
            return
        metadata = written["metadata"]
        generation = metadata.get("generation")
        if generation not in initial:
            initial[generation] = initial_asset_status(generation, now).to_json()
        patched = await controller.io.patch_status(ASSETS, _meta_json(metadata), {}, initial[generation])
        if patched is not None:
            memo.status_written(metadata.get("resourceVersion"), patched)

    async def update(manifest: Mapping[str, Any]) -> None:
        current = by_name[manifest["metadata"]["name"]]
        patch: dict[str, Any] = {
            "metadata": {
                "labels": manifest["metadata"].get("labels", {}),
                "ownerReferences": manifest["metadata"].get("ownerReferences", []),
            },
            "spec": merge_patch(current.spec.to_json(), manifest["spec"]),
        }
        written = await controller.io.patch(
            ASSETS, namespace, manifest["metadata"]["name"], patch, resource_version=current.metadata.resource_version
        )
        memo.written(manifest, written)
        await _refresh_status(controller, Asset.model_validate(written), statuses, now, memo)

    await _bounded(create(manifest) for manifest in changes.create)
    await _bounded(update(manifest) for manifest in changes.update)
    await _bounded(controller.io.delete(ASSETS, namespace, target) for target in changes.delete)
    # Assets whose status does not describe their current spec yet (an earlier write failed half-way).
    touched = {manifest["metadata"]["name"] for manifest in (*changes.create, *changes.update)}
    deleted = {target.name for target in changes.delete}
    stale = [
        asset
        for name, asset in by_name.items()
        if name not in touched
        and name not in deleted
        and (asset.status is None or asset.status.observed_generation != asset.metadata.generation)
    ]
    await _bounded(_refresh_status(controller, asset, statuses, now, memo) for asset in stale)


async def _refresh_status(
    controller: Controller,
    asset: Asset,
    statuses: Mapping[str, AssetStatus | None],
    now: datetime,
    memo: CatalogMemo,
) -> None:
    upstream = [statuses.get(dep) for dep in asset.spec.deps or ()]
    desired = refresh_asset_status(asset.spec, asset.status, upstream, generation=asset.metadata.generation, now=now)
    current = asset.status.to_json() if asset.status else {}
    patched = await controller.io.patch_status(ASSETS, _meta(asset), current, desired.to_json())
    if patched is not None:
        memo.status_written(asset.metadata.resource_version, patched)


async def _bounded(calls: Iterable[Awaitable[None]]) -> None:
    """Run the calls with at most CATALOG_CONCURRENCY in flight; the first failure is raised after the
    others finished (every success stays applied: plans are idempotent)."""
    semaphore = asyncio.Semaphore(CATALOG_CONCURRENCY)

    async def one(call: Awaitable[None]) -> None:
        async with semaphore:
            await call

    results = await asyncio.gather(*(one(call) for call in calls), return_exceptions=True)
    for outcome in results:
        if isinstance(outcome, BaseException):
            raise outcome


def _meta_json(metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {key: metadata.get(key) for key in ("namespace", "name", "resourceVersion")}


def _meta(resource: Asset | CodeLocation) -> dict[str, Any]:
    return {
        "namespace": resource.metadata.namespace,
        "name": resource.metadata.name,
        "resourceVersion": resource.metadata.resource_version,
    }

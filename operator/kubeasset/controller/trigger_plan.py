"""Applying what a schedule's or a sensor's plan asks for, in one place: both triggers create runs (409 is
success: run names are deterministic), cancel superseded ones, prune their history, write their status when
it differs, post Events, and look again at the plan's ``requeue_at``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from kubernetes.client.exceptions import ApiException

from kubeasset.api.assetrun import AssetRun
from kubeasset.api.assetschedule import AssetSchedule
from kubeasset.api.assetsensor import AssetSensor
from kubeasset.controller.kube import Kind, KubeIO, kind_of
from kubeasset.controller.runtime import Controller, involved
from kubeasset.reconcile.plan_items import Event, ObjectId

RUNS: Final = kind_of(AssetRun)


async def apply_trigger_plan(
    controller: Controller,
    trigger: AssetSchedule | AssetSensor,
    *,
    create: Sequence[dict[str, Any]],
    delete: Sequence[ObjectId],
    status: dict[str, Any] | None,
    events: Sequence[Event],
    requeue_at: datetime | None,
    cancel: Sequence[str] = (),
    cached_version: str | None = None,
) -> float | None:
    """Apply a trigger's plan; returns the seconds until ``requeue_at`` measured now, after the writes,
    so the time they took does not make the next tick late (None: only on a change). ``status`` None:
    leave the status as it is (a later reconcile writes it).

    ``cached_version``: the resourceVersion the cache shows when ``trigger`` is the controller's own last
    write (see :class:`kubeasset.controller.run_memory.WrittenObjects`); the status written now is
    remembered against it, so the next plan starts from it even before the cache has it."""
    namespace = trigger.metadata.namespace or ""
    # Replace: the superseded runs are told to stop before the new one starts (a job limited to one
    # concurrent run then starts the new one as soon as the old one is canceled).
    for run in cancel:
        await cancel_run(controller.io, namespace, run)
    for manifest in create:
        created = await controller.io.create(RUNS, manifest)
        if isinstance(trigger, AssetSchedule):
            controller.metrics.schedule_run_created(namespace, trigger.metadata.name or "", created, controller.now())
    for target in delete:
        await controller.io.delete(RUNS, namespace, target)
    if status is not None:
        await _write_status(controller, trigger, status, cached_version)
    for event in events:
        await controller.events.record(involved(trigger), event)
    if requeue_at is None:
        return None
    return max((requeue_at - controller.now()).total_seconds(), 0.0)


async def _write_status(
    controller: Controller, trigger: AssetSchedule | AssetSensor, status: dict[str, Any], cached_version: str | None
) -> None:
    kind: Kind = kind_of(type(trigger))
    namespace = trigger.metadata.namespace or ""
    metadata = {
        "namespace": namespace,
        "name": trigger.metadata.name,
        "resourceVersion": trigger.metadata.resource_version,
    }
    current = trigger.status.to_json() if trigger.status else {}
    written = await controller.io.patch_status(kind, metadata, current, status)
    if written is not None:
        based_on = cached_version or trigger.metadata.resource_version
        controller.written.remember(kind.kind, namespace, trigger.metadata.name or "", based_on=based_on, obj=written)


async def cancel_run(io: KubeIO, namespace: str, run: str) -> None:
    """Ask the run ``run`` to cancel (merge-patch ``spec.cancel: true``; the run controller stops its Pod).
    Idempotent; a run that is already gone (404) is fine. Only runs the trigger owns (ownerReference
    uid, see :func:`kubeasset.reconcile.trigger_runs.owned_runs`) are ever named by a plan."""
    try:
        await io.patch(RUNS, namespace, run, {"spec": {"cancel": True}})
    except ApiException as error:
        if error.status != 404:
            raise

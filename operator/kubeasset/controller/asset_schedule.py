"""Reconciling one AssetSchedule: its job and the runs labelled with its name (from the cache) go to
:func:`kubeasset.reconcile.schedule.plan_schedule`; the controller creates the tick's runs (named after
the scheduled instant, so 409 AlreadyExists is success: a replayed plan, a second replica or a lost status
write never makes a second run of one tick), cancels the runs concurrencyPolicy Replace supersedes,
deletes finished runs beyond the history limits, writes the status when it differs and posts the Events.

The timer is the work queue's delayed add: the reconcile returns the seconds until the next tick
(``plan.requeue_at``) measured at return time, so the time spent applying the plan does not make the tick
late. The queue caps a delay at a day (``MAX_DELAY``); waking early is harmless, the plan finds no due
tick and asks again. A run's change (Forbid, history) and the job's change (readiness) wake it earlier.

Cost per reconcile: no API read (the cache), one create per due tick, at most one status patch.
"""

from __future__ import annotations

from typing import Final

from kubernetes.client.exceptions import ApiException

from kubeasset.api.assetrun import AssetRun
from kubeasset.api.assetschedule import AssetSchedule
from kubeasset.controller.kube import KubeIO, kind_of
from kubeasset.controller.runtime import Controller, involved
from kubeasset.controller.workqueue import ObjectKey
from kubeasset.reconcile.schedule import ScheduleObservation, plan_schedule

SCHEDULES: Final = kind_of(AssetSchedule)
RUNS: Final = kind_of(AssetRun)


async def reconcile_asset_schedule(controller: Controller, key: ObjectKey) -> float | None:
    """One reconcile of the AssetSchedule ``key``; returns when to look again (None: on the next change)."""
    namespace, name = key.namespace, key.name
    schedule = controller.cache.schedule(namespace, name)
    if schedule is None or schedule.metadata.deletion_timestamp is not None:
        return None  # its runs go with it (ownerReferences)
    job = controller.cache.job(namespace, schedule.spec.job)
    runs = controller.cache.runs_of_schedule(namespace, name)
    plan = plan_schedule(schedule, ScheduleObservation(job=job, runs=runs), controller.now())

    # Replace: the superseded runs are told to stop before the new one starts (a job limited to one
    # concurrent run then starts the new one as soon as the old one is canceled).
    for run in plan.cancel:
        await cancel_run(controller.io, namespace, run)
    for manifest in plan.create:
        await controller.io.create(RUNS, manifest)
    for target in plan.delete:
        await controller.io.delete(RUNS, namespace, target)
    metadata = {"namespace": namespace, "name": name, "resourceVersion": schedule.metadata.resource_version}
    current = schedule.status.to_json() if schedule.status else {}
    await controller.io.patch_status(SCHEDULES, metadata, current, plan.status.to_json())
    for event in plan.events:
        await controller.events.record(involved(schedule), event)
    if plan.requeue_at is None:
        return None
    return max((plan.requeue_at - controller.now()).total_seconds(), 0.0)


async def cancel_run(io: KubeIO, namespace: str, run: str) -> None:
    """Ask the run ``run`` to cancel (merge-patch ``spec.cancel: true``; the run controller stops its Pod).
    Idempotent; a run that is already gone (404) is fine. Only runs the trigger owns (ownerReference
    uid, see :func:`kubeasset.reconcile.trigger_runs.owned_runs`) are ever named by a plan."""
    try:
        await io.patch(RUNS, namespace, run, {"spec": {"cancel": True}})
    except ApiException as error:
        if error.status != 404:
            raise

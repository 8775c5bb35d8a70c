"""Reconciling one AssetSchedule: its job and the runs labelled with its name (from the cache) go to
:func:`kubeasset.reconcile.schedule.plan_schedule`; the controller creates the tick's runs (named after
the scheduled instant, so 409 AlreadyExists is success: a replayed plan, a second replica or a lost status
write never makes a second run of one tick), cancels the runs concurrencyPolicy Replace supersedes,
deletes finished runs beyond the history limits, writes the status when it differs and posts the Events.

The timer is the work queue's delayed add: the reconcile returns the seconds until the next tick
(``plan.requeue_at``) measured at return time, so the time spent applying the plan does not make the tick
late. The queue caps a delay at a day (``MAX_DELAY``); waking early is harmless, the plan finds no due
tick and asks again. A run's change (Forbid, history) and the job's change (readiness) wake it earlier.

Cost per reconcile: no API read (the cache), one create per due tick, at most one status patch. The
tick's new run wakes the schedule again at once, usually before the cache has the status just written:
that plan starts from the written status (controller.written), so it writes nothing twice.
"""

from __future__ import annotations

from typing import Final

from kubeasset.api.assetschedule import AssetSchedule
from kubeasset.controller.kube import kind_of
from kubeasset.controller.runtime import Controller
from kubeasset.controller.trigger_plan import apply_trigger_plan
from kubeasset.controller.workqueue import ObjectKey
from kubeasset.reconcile.schedule import ScheduleObservation, plan_schedule

SCHEDULES: Final = kind_of(AssetSchedule)


async def reconcile_asset_schedule(controller: Controller, key: ObjectKey) -> float | None:
    """One reconcile of the AssetSchedule ``key``; returns when to look again (None: on the next change)."""
    namespace, name = key.namespace, key.name
    cached = controller.cache.schedule(namespace, name)
    if cached is None or cached.metadata.deletion_timestamp is not None:
        controller.written.forget(SCHEDULES.kind, namespace, name)
        return None  # its runs go with it (ownerReferences)
    written = controller.written.current(
        SCHEDULES.kind, namespace, name, cached_version=cached.metadata.resource_version
    )
    schedule = AssetSchedule.model_validate(written) if written is not None else cached
    job = controller.cache.job(namespace, schedule.spec.job)
    runs = controller.cache.runs_of_schedule(namespace, name)
    plan = plan_schedule(schedule, ScheduleObservation(job=job, runs=runs), controller.now())

    return await apply_trigger_plan(
        controller,
        schedule,
        create=plan.create,
        delete=plan.delete,
        status=plan.status.to_json(),
        events=plan.events,
        requeue_at=plan.requeue_at,
        cancel=plan.cancel,
        cached_version=cached.metadata.resource_version,
    )

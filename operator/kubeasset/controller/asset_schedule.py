"""Reconciling one AssetSchedule: its job and the runs labelled with its name (from the cache) go to
:func:`kubeasset.reconcile.schedule.plan_schedule`; the controller creates the tick's runs (named after
the scheduled instant, so 409 AlreadyExists is success: a replayed plan, a second replica or a lost status
write never makes a second run of one tick), cancels the runs concurrencyPolicy Replace supersedes,
deletes finished runs beyond the history limits, writes the status when it differs and posts the Events.

The timer is the work queue's delayed add: the reconcile returns the seconds until the next tick
(``plan.requeue_at``) measured at return time, so the time spent applying the plan does not make the tick
late. The queue caps a delay at a day (``MAX_DELAY``); waking early is harmless, the plan finds no due
tick and asks again. A run's change (Forbid, history) and the job's change (readiness) wake it earlier.

A due tick is two reconciles: the first creates the tick's runs (canceling the runs Replace supersedes, and
posting what only its plan can tell: MissedTicks, RunsReplaced) and writes nothing else; the new runs'
watch events wake the schedule, and that reconcile (whose plan now sees the runs) writes the status, the
RunCreated Event and the history deletions. When 1,000 schedules are due at one instant the 1,000 creations
are then the first 1,000 writes the controller makes, not one write in three (the status patch and the
Event of each tick used to come between them): bench/README.md, schedule lateness. The work queue gives a
schedule's timer (its tick) the first lane and a wake by a run's event the ordinary one, so the
bookkeeping waits behind the new runs' Pod creations. A lost event is covered by a short requeue
(:data:`AFTER_CREATE_SECONDS`).

Cost per reconcile: no API read (the cache), one create per due tick, at most one status patch. A plan
may come before the cache has the status just written: it starts from the written status
(controller.written), so it writes nothing twice.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from kubeasset.api.assetschedule import AssetSchedule
from kubeasset.controller.kube import kind_of
from kubeasset.controller.runtime import Controller
from kubeasset.controller.trigger_plan import apply_trigger_plan
from kubeasset.controller.workqueue import ObjectKey
from kubeasset.reconcile.schedule import ScheduleObservation, plan_schedule

SCHEDULES: Final = kind_of(AssetSchedule)
#: After creating a tick's runs, look again this soon even if their watch events do not come.
AFTER_CREATE_SECONDS: Final = 5.0


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
    now = controller.now()
    plan = plan_schedule(schedule, ScheduleObservation(job=job, runs=runs), now)
    if plan.create:
        # The tick's runs (and what only this plan can tell of its due ticks); the status, RunCreated and
        # the history deletions in the reconcile the runs' watch events cause.
        return await apply_trigger_plan(
            controller,
            schedule,
            create=plan.create,
            cancel=plan.cancel,
            delete=(),
            status=None,
            events=plan.tick_events,
            requeue_at=now + timedelta(seconds=AFTER_CREATE_SECONDS),
        )
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

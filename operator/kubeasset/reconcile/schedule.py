"""The decisions of an AssetSchedule, as CronJob makes them: which ticks are due, which runs to start,
cancel or delete, and what its status says; pure, so a fake clock drives every case in tests.

Rules (those of batch/v1 CronJob unless said otherwise):

* ticks are those of :mod:`kubeasset.reconcile.ticks` (Dagster's daylight-saving rules) after the later
  of ``status.lastScheduleTime`` and the schedule's creation: a new schedule never fires for the past;
* of the ticks missed since then (controller down, schedule suspended, job missing), only those within
  ``startingDeadlineSeconds`` of now are eligible, and of those the newest ``catchUpLimit`` start (1: the
  most recent only, as CronJob); the rest are reported once per plan in a ``MissedTicks`` Event. With
  ``catchUpLimit: 0`` a tick starts only when seen within :data:`ON_TIME_SECONDS` of its time;
* ``concurrencyPolicy``: Allow starts every due tick; Forbid starts nothing while a run of the schedule
  is active, and otherwise the oldest due tick (so catching up runs one tick at a time); as in CronJob, a
  tick Forbid held back stays due and starts when the active run ends if it is still within the
  deadline (set ``startingDeadlineSeconds`` to drop such ticks instead); Replace cancels the active runs
  (``spec.cancel: true``) and starts the newest due tick;
* a tick's run is named ``<schedule>-<minutes since the epoch of the scheduled time>`` (CronJob's
  ``<name>-<minutes>``), so a replayed plan gets 409 AlreadyExists, which is success; ``lastScheduleTime``
  is also derived from the runs that exist, so a lost status write cannot start a tick twice;
* finished runs beyond ``successfulRunsHistoryLimit`` / ``failedRunsHistoryLimit`` are deleted, oldest
  first.

The controller sleeps until :attr:`SchedulePlan.requeue_at` (the next tick), and must plan again when a
run of the schedule changes (Forbid, history) and when its job changes (readiness).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from kubeasset.api.assetjob import AssetJob
from kubeasset.api.assetrun import SCHEDULED_TIME_ANNOTATION, AssetRun, RunTrigger, TriggerType
from kubeasset.api.assetschedule import AssetSchedule, AssetScheduleStatus, ConcurrencyPolicy
from kubeasset.api.conditions import READY, ConditionStatus, set_condition
from kubeasset.api.runs import RunPhase, RunReference
from kubeasset.api.types import MAX_ACTIVE_RUNS, format_time
from kubeasset.errors import CronError, ScheduleError, TimezoneError
from kubeasset.reconcile.plan_items import Event, EventType, ObjectId
from kubeasset.reconcile.ticks import Timetable
from kubeasset.reconcile.trigger_runs import (
    SCHEDULE_LABEL,
    history_deletions,
    is_active,
    job_readiness,
    last_success_time,
    owned_runs,
    ready_condition_is,
    run_manifest,
    run_phase,
    run_reference,
)

#: With ``catchUpLimit: 0`` a tick still starts when the controller sees it at most this late: it is on
#: time, not caught up (the same as ``catchUpLimit: 1`` with ``startingDeadlineSeconds: 60``).
ON_TIME_SECONDS: Final = 60
#: Missed ticks are counted up to this many for the MissedTicks Event ("more than 1000 ticks").
MISSED_COUNT_CAP: Final = 1000

#: At most this many RunCreated Events for runs an earlier reconcile created (the newest ones): a status
#: lost with many runs behind it does not flood the Events.
MAX_ANNOUNCED_RUNS: Final = 10

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def schedule_run_name(schedule_name: str, tick: datetime) -> str:
    """The run of ``schedule_name``'s tick at ``tick``: ``<schedule>-<unix minutes>``, at most 52 + 1 + 8
    characters (ticks before the year 2160), so it also fits a label value.

    Example: ``schedule_run_name("nightly", datetime(2027, 3, 28, 1, 0, tzinfo=UTC)) == "nightly-30103260"``.
    """
    return f"{schedule_name}-{int(tick.timestamp()) // 60}"


# --- catch-up ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DueTicks:
    """The ticks due now: those to start (oldest first) and those missed for good."""

    start: tuple[datetime, ...]
    """Due ticks within the deadline and the catch-up limit, oldest first (before concurrencyPolicy)."""
    missed: int
    """Due ticks that will never start (too old for startingDeadlineSeconds, or beyond catchUpLimit)."""
    missed_is_exact: bool
    """False when ``missed`` stopped at :data:`MISSED_COUNT_CAP` (there are more)."""
    oldest_missed: datetime | None
    newest_missed: datetime | None
    next_tick: datetime | None
    """The first tick after now (None while suspended)."""


def due_ticks(
    schedule: AssetSchedule, last_schedule_time: datetime | None, now: datetime, timetable: Timetable | None = None
) -> DueTicks:
    """Which ticks of ``schedule`` start now, given the last tick that started a run.

    Raises :class:`~kubeasset.errors.ScheduleError` for an invalid cron expression or time zone (unless a
    parsed ``timetable`` is given). Example::

        due = due_ticks(schedule, schedule.status.last_schedule_time, now)
        due.start  # (datetime(2027, 3, 28, 1, 0, tzinfo=UTC),)
    """
    spec = schedule.spec
    timetable = timetable or Timetable.of_spec(spec)
    if spec.suspend:
        return DueTicks((), 0, True, None, None, None)
    next_tick = next(timetable.after(now), None)
    earliest = max(
        (moment for moment in (last_schedule_time, schedule.metadata.creation_timestamp) if moment is not None),
        default=now,
    )
    limit, deadline = spec.catch_up_limit, spec.starting_deadline_seconds
    if limit == 0:
        limit, deadline = 1, min(deadline, ON_TIME_SECONDS) if deadline is not None else ON_TIME_SECONDS
    window = timetable.ticks_between(earliest, now, limit + 1, MISSED_COUNT_CAP)
    eligible = [tick for tick in window.ticks if deadline is None or tick >= now - timedelta(seconds=deadline)]
    start = tuple(eligible[-limit:])
    missed_ticks = [tick for tick in window.ticks if tick not in start]
    missed = window.total - len(start)
    oldest_missed = next(timetable.after(earliest), None) if missed else None
    return DueTicks(
        start=start,
        missed=missed,
        missed_is_exact=window.total_is_exact,
        oldest_missed=oldest_missed,
        newest_missed=missed_ticks[-1] if missed_ticks else None,
        next_tick=next_tick,
    )


# --- concurrency ------------------------------------------------------------------------------------


class ConcurrencyAction(StrEnum):
    """What a due tick does about the schedule's active runs."""

    LAUNCH = "Launch"
    SKIP = "Skip"
    REPLACE = "Replace"


@dataclass(frozen=True)
class ConcurrencyDecision:
    """The outcome of concurrencyPolicy for a due tick: launch, skip (with the reason) or replace
    (cancel ``cancel``, then launch)."""

    action: ConcurrencyAction
    cancel: tuple[str, ...] = ()
    reason: str | None = None


def decide_concurrency(policy: ConcurrencyPolicy, active_runs: Sequence[str]) -> ConcurrencyDecision:
    """CronJob's concurrencyPolicy for a tick while ``active_runs`` (names) of the schedule are active.

    Example::

        decide_concurrency(ConcurrencyPolicy.FORBID, ["nightly-30103260"]).action == ConcurrencyAction.SKIP
    """
    active = tuple(sorted(active_runs))
    if not active or policy == ConcurrencyPolicy.ALLOW:
        return ConcurrencyDecision(ConcurrencyAction.LAUNCH)
    if policy == ConcurrencyPolicy.FORBID:
        return ConcurrencyDecision(
            ConcurrencyAction.SKIP,
            reason=f"run(s) {', '.join(active)} still active and concurrencyPolicy is Forbid",
        )
    return ConcurrencyDecision(ConcurrencyAction.REPLACE, cancel=active)


# --- the plan ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleObservation:
    """What the controller observed for one schedule: its job (None when it does not exist) and the
    AssetRuns labelled ``kubeasset.dev/schedule=<name>`` (only those it owns are acted on)."""

    job: AssetJob | None
    runs: Sequence[AssetRun] = ()


@dataclass(frozen=True)
class SchedulePlan:
    """What to do for one schedule now. Applying it twice is harmless: creating a run that exists (409)
    is success, canceling a canceled run and deleting a deleted one (404) change nothing."""

    create: tuple[dict[str, Any], ...]
    """AssetRun manifests to create."""
    cancel: tuple[str, ...]
    """AssetRuns to cancel (patch ``spec.cancel: true``), for concurrencyPolicy Replace."""
    delete: tuple[ObjectId, ...]
    """Finished AssetRuns beyond the history limits."""
    status: AssetScheduleStatus
    """The desired status (patch it only when it differs)."""
    events: tuple[Event, ...] = ()
    tick_events: tuple[Event, ...] = ()
    """The Events of this plan's decision about its due ticks (MissedTicks, RunsReplaced), also in
    ``events``. A controller that creates a tick's runs first and leaves the status to the next reconcile
    posts these with the creations: only this plan can tell them, while the next one announces the runs
    (RunCreated) and the history deletions itself."""
    requeue_at: datetime | None = None
    """The next tick: plan again then (None: only on a change)."""
    requeue_after: float | None = field(default=None)
    """``requeue_at`` as seconds from the planning ``now``."""


def plan_schedule(schedule: AssetSchedule, observed: ScheduleObservation, now: datetime) -> SchedulePlan:
    """Reconcile one AssetSchedule at ``now`` (aware): the runs to create, cancel and delete, its status,
    its Events and when to look again.

    Example::

        plan = plan_schedule(schedule, ScheduleObservation(job=job, runs=runs), now)
        for manifest in plan.create: ...  # create; 409 AlreadyExists is success
    """
    spec = schedule.spec
    previous = schedule.status or AssetScheduleStatus()
    generation = schedule.metadata.generation
    owned = owned_runs(schedule, observed.runs)
    active = [run for run in owned if is_active(run)]
    deletions = tuple(history_deletions(owned, spec.successful_runs_history_limit, spec.failed_runs_history_limit))
    events: list[Event] = []
    if deletions:
        names = ", ".join(deletion.name for deletion in deletions)
        events.append(
            Event(EventType.NORMAL, "RunsDeleted", f"deleted finished runs beyond the history limits: {names}")
        )
    last_schedule_time = max(
        (moment for moment in (previous.last_schedule_time, *(_scheduled_time(run) for run in owned)) if moment),
        default=None,
    )

    def status(ready: tuple[ConditionStatus, str, str], **changes: Any) -> AssetScheduleStatus:
        state, reason, message = ready
        conditions = set_condition(
            previous.conditions, READY, state, reason=reason, message=message, now=now, observed_generation=generation
        )
        base = previous.model_copy(
            update={
                "observed_generation": generation,
                "conditions": conditions,
                "last_schedule_time": last_schedule_time,
                "last_successful_time": last_success_time(owned, previous.last_successful_time),
                "active_runs": sorted(run.metadata.name or "" for run in active)[:MAX_ACTIVE_RUNS] or None,
                "last_run": _latest_run(owned) or previous.last_run,
            }
        )
        return base.model_copy(update=changes)

    try:
        timetable = Timetable.of_spec(spec)
    except ScheduleError as error:
        reason = {CronError: "InvalidCron", TimezoneError: "InvalidTimezone"}.get(type(error), "InvalidSchedule")
        if not ready_condition_is(previous.conditions, ConditionStatus.FALSE, reason, str(error)):
            events.append(Event(EventType.WARNING, reason, str(error)))
        return SchedulePlan(
            create=(),
            cancel=(),
            delete=deletions,
            status=status((ConditionStatus.FALSE, reason, str(error)), next_schedule_time=None),
            events=tuple(events),
        )

    due = due_ticks(schedule, last_schedule_time, now, timetable)
    requeue_at = due.next_tick
    requeue_after = max((requeue_at - now).total_seconds(), 0.0) if requeue_at else None
    blocked = job_readiness(observed.job, spec.job)
    if spec.suspend:
        ready = (ConditionStatus.TRUE, "Suspended", "suspended: no runs start until spec.suspend is false")
    elif blocked is not None:
        ready = (ConditionStatus.FALSE, *blocked)
    else:
        count = len(timetable.expressions)
        ready = (ConditionStatus.TRUE, "Scheduled", f"{count} cron expression(s) in time zone {spec.timezone}")
    if blocked is not None and not spec.suspend and not ready_condition_is(previous.conditions, *ready):
        events.append(Event(EventType.WARNING, ready[1], ready[2]))

    started: list[datetime] = []
    tick_events: list[Event] = []
    create: list[dict[str, Any]] = []
    cancel: tuple[str, ...] = ()
    superseded = 0
    if due.start and blocked is None and observed.job is not None:
        decision = decide_concurrency(spec.concurrency_policy, [run.metadata.name or "" for run in active])
        if decision.action == ConcurrencyAction.SKIP:
            ticks: tuple[datetime, ...] = ()
            events.append(
                Event(EventType.NORMAL, "TickSkipped", f"tick {_times(due.start)} not started: {decision.reason}")
            )
        elif spec.concurrency_policy == ConcurrencyPolicy.FORBID:
            ticks = due.start[:1]  # one run at a time: the oldest due tick first
        elif spec.concurrency_policy == ConcurrencyPolicy.REPLACE:
            ticks, superseded = due.start[-1:], len(due.start) - 1
        else:
            ticks = due.start
        if decision.action == ConcurrencyAction.REPLACE:
            canceled = {run.metadata.name for run in active if run.spec.cancel}
            cancel = tuple(name for name in decision.cancel if name not in canceled)
            if cancel:
                tick_events.append(
                    Event(
                        EventType.NORMAL,
                        "RunsReplaced",
                        f"canceling {', '.join(cancel)} for the tick at {_times(ticks)} (concurrencyPolicy Replace)",
                    )
                )
                events.append(tick_events[-1])
        existing = {run.metadata.name for run in observed.runs}
        for tick in ticks:
            name = schedule_run_name(schedule.metadata.name or "", tick)
            started.append(tick)
            if name in existing:
                continue  # created by an earlier plan whose status write was lost
            create.append(_run_for_tick(schedule, observed.job, name, tick))
            events.append(_run_created(name, tick))
    # A tick's run created earlier (the controller creates a due tick's runs first and writes the status in
    # the next reconcile) is announced with the status that records it: the Event follows the status.
    unannounced = sorted(
        (scheduled, run.metadata.name or "")
        for run in owned
        if (scheduled := _scheduled_time(run)) is not None
        and (previous.last_schedule_time is None or scheduled > previous.last_schedule_time)
    )
    events.extend(_run_created(name, scheduled) for scheduled, name in unannounced[-MAX_ANNOUNCED_RUNS:])

    missed = due.missed + superseded
    if missed:
        tick_events.append(Event(EventType.WARNING, "MissedTicks", _missed_message(schedule, due, missed)))
        events.append(tick_events[-1])

    new_last = max([*started, *([last_schedule_time] if last_schedule_time else [])], default=None)
    active_names = sorted({*(run.metadata.name or "" for run in active), *(m["metadata"]["name"] for m in create)})
    changes: dict[str, Any] = {
        "last_schedule_time": new_last,
        "next_schedule_time": due.next_tick,
        "active_runs": active_names[:MAX_ACTIVE_RUNS] or None,
    }
    if create:
        changes["last_run"] = RunReference(name=create[-1]["metadata"]["name"], phase=RunPhase.PENDING)
    return SchedulePlan(
        create=tuple(create),
        cancel=cancel,
        delete=deletions,
        status=status(ready, **changes),
        events=tuple(events),
        tick_events=tuple(tick_events),
        requeue_at=requeue_at,
        requeue_after=requeue_after,
    )


def trigger_view(run: AssetRun) -> tuple[object, ...]:
    """What a schedule's (or a sensor's) plan reads of one of its runs: phase, start and completion time,
    cancel, deletion. A run event that leaves it as it was (the run's progress, messages, asset states)
    changes neither plan, so it need not wake the schedule.

    Example::

        if trigger_view(run) != seen.get(name): queue.add(schedule_key)
    """
    status = run.status
    return (
        run_phase(run),
        status.start_time if status is not None else None,
        status.completion_time if status is not None else None,
        run.spec.cancel,
        run.metadata.deletion_timestamp is not None,
    )


def _run_for_tick(schedule: AssetSchedule, job: AssetJob, name: str, tick: datetime) -> dict[str, Any]:
    spec = schedule.spec
    trigger = RunTrigger(type=TriggerType.SCHEDULE, schedule=schedule.metadata.name, scheduled_time=tick)
    return run_manifest(
        schedule,
        name=name,
        job=job,
        trigger=trigger,
        owner_label=SCHEDULE_LABEL,
        tags=spec.tags,
        config=spec.config,
        annotations={SCHEDULED_TIME_ANNOTATION: format_time(tick)},
    )


def _run_created(name: str, tick: datetime) -> Event:
    return Event(EventType.NORMAL, "RunCreated", f"created run {name} for the tick at {format_time(tick)}")


def _scheduled_time(run: AssetRun) -> datetime | None:
    return run.spec.trigger.scheduled_time if run.spec.trigger.type == TriggerType.SCHEDULE else None


def _latest_run(runs: Sequence[AssetRun]) -> RunReference | None:
    def order(run: AssetRun) -> tuple[datetime, str]:
        return (_scheduled_time(run) or run.metadata.creation_timestamp or _EPOCH, run.metadata.name or "")

    return run_reference(max(runs, key=order)) if runs else None


def _times(ticks: Sequence[datetime]) -> str:
    return ", ".join(format_time(tick) for tick in ticks)


def _missed_message(schedule: AssetSchedule, due: DueTicks, missed: int) -> str:
    spec = schedule.spec
    count = f"{missed}" if due.missed_is_exact else f"more than {missed}"
    span = ""
    if due.oldest_missed and due.newest_missed:
        span = f" (from {format_time(due.oldest_missed)} to {format_time(due.newest_missed)})"
    deadline = (
        f"startingDeadlineSeconds {spec.starting_deadline_seconds}"
        if spec.starting_deadline_seconds is not None
        else "no startingDeadlineSeconds"
    )
    return (
        f"{count} missed tick(s){span} will not start: {deadline}, catchUpLimit {spec.catch_up_limit}, "
        f"concurrencyPolicy {spec.concurrency_policy}"
    )

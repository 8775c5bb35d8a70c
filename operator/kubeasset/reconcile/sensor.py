"""The decisions of an AssetSensor (Dagster's asset sensor): whether new materializations of the watched
assets start a run, and the cursor that makes each materialization trigger at most once.

Rules:

* the watched assets are the sensor's selection resolved in the job's code location;
* a materialization is new when it is not the one the cursor recorded for its asset (a later time, or
  the same time from another run) and, for an asset the cursor has never seen, when it happened after
  the sensor was created: a new sensor does not fire for the past;
* ``trigger: any`` fires when at least one watched asset has a new materialization, ``all`` when every
  watched asset has one; a firing consumes every new materialization (the cursor moves to them), so a
  burst of materializations starts one run;
* at most one firing per ``minimumIntervalSeconds`` (the controller is asked to come back when the
  interval ends); ``suspend`` stops firing without moving the cursor, so what happened meanwhile fires on
  resume;
* the run's name is ``<sensor>-<10 hex of the sha256 of the consumed materializations>``: a plan replayed
  after a lost status write names the same run, and creating it again is 409 AlreadyExists, i.e. success.

The controller must plan again when an Asset of the watched code location changes (its
``lastMaterialization``), when a run of the sensor changes (history, ``lastRun``) and at ``requeue_at``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from kubeasset.api.asset import Materialization
from kubeasset.api.assetjob import AssetJob
from kubeasset.api.assetrun import AssetRun, RunTrigger, TriggerType
from kubeasset.api.assetsensor import (
    AssetSensor,
    AssetSensorStatus,
    SensorCursorEntry,
    SensorTrigger,
    SensorTriggerRecord,
)
from kubeasset.api.conditions import READY, ConditionStatus, set_condition
from kubeasset.api.runs import RunPhase, RunReference
from kubeasset.errors import SelectionError
from kubeasset.graph import AssetGraph
from kubeasset.reconcile.naming import short_hash
from kubeasset.reconcile.plan_items import Event, EventType, ObjectId
from kubeasset.reconcile.trigger_runs import (
    SENSOR_LABEL,
    history_deletions,
    job_readiness,
    owned_runs,
    ready_condition_is,
    run_manifest,
    run_reference,
)
from kubeasset.selection import resolve_selection

#: Hex digits of the cursor hash in a sensor run's name: 52 + 1 + 10 = 63 characters at most.
_RUN_HASH_LENGTH: Final = 10


@dataclass(frozen=True)
class SensorObservation:
    """What the controller observed for one sensor.

    ``graph`` is the asset graph of the job's code location (None until it is known);
    ``materializations`` maps each asset key string (``raw/orders``) to its catalog Asset's
    ``status.lastMaterialization`` (missing keys: never materialized); ``runs`` are the AssetRuns
    labelled ``kubeasset.dev/sensor=<name>`` (only those it owns are acted on).
    """

    job: AssetJob | None
    graph: AssetGraph | None
    materializations: Mapping[str, Materialization]
    runs: Sequence[AssetRun] = ()


@dataclass(frozen=True)
class SensorPlan:
    """What to do for one sensor now (idempotent, as :class:`~kubeasset.reconcile.schedule.SchedulePlan`)."""

    create: tuple[dict[str, Any], ...]
    """AssetRun manifests to create (409 AlreadyExists is success)."""
    delete: tuple[ObjectId, ...]
    """Finished AssetRuns beyond the history limits."""
    status: AssetSensorStatus
    """The desired status, cursor included (patch it only when it differs)."""
    events: tuple[Event, ...] = ()
    requeue_at: datetime | None = None
    """When ``minimumIntervalSeconds`` lets a pending trigger fire (None: only on a change)."""
    requeue_after: float | None = None
    """``requeue_at`` as seconds from the planning ``now``."""


def sensor_run_name(sensor_name: str, consumed: Mapping[str, Materialization]) -> str:
    """The run a firing on ``consumed`` (asset key string -> materialization) creates:
    ``<sensor>-<10 hex>``, the same for the same materializations after any restart."""
    canonical = json.dumps(
        sorted(
            (key, materialization.time.isoformat(), materialization.run_name)
            for key, materialization in consumed.items()
        ),
        separators=(",", ":"),
    )
    return f"{sensor_name}-{short_hash(canonical, _RUN_HASH_LENGTH)}"


def new_materializations(
    watched: Sequence[str],
    materializations: Mapping[str, Materialization],
    cursor: Mapping[str, SensorCursorEntry],
    created: datetime | None,
) -> dict[str, Materialization]:
    """The watched assets whose latest materialization the cursor has not consumed yet (see the module's
    rules), by key string."""
    new: dict[str, Materialization] = {}
    for key in watched:
        materialization = materializations.get(key)
        if materialization is None:
            continue
        seen = cursor.get(key)
        if seen is None:
            fresh = created is None or materialization.time > created
        else:
            fresh = materialization.time > seen.time or (
                materialization.time == seen.time and materialization.run_name != seen.run_name
            )
        if fresh:
            new[key] = materialization
    return new


def plan_sensor(sensor: AssetSensor, observed: SensorObservation, now: datetime) -> SensorPlan:
    """Reconcile one AssetSensor at ``now`` (aware): the run to start if it fires, runs to delete, its
    status (cursor, last trigger) and Events.

    Example::

        plan = plan_sensor(sensor, SensorObservation(job, graph, {"raw/orders": materialization}), now)
    """
    spec = sensor.spec
    name = sensor.metadata.name or ""
    previous = sensor.status or AssetSensorStatus()
    generation = sensor.metadata.generation
    owned = owned_runs(sensor, observed.runs)
    deletions = tuple(history_deletions(owned, spec.successful_runs_history_limit, spec.failed_runs_history_limit))
    events: list[Event] = []
    if deletions:
        names = ", ".join(deletion.name for deletion in deletions)
        events.append(
            Event(EventType.NORMAL, "RunsDeleted", f"deleted finished runs beyond the history limits: {names}")
        )
    cursor = {entry.key: entry for entry in previous.cursor or ()}
    latest = max(owned, key=lambda run: (run.metadata.creation_timestamp or now, run.metadata.name or ""), default=None)

    def plan(
        ready: tuple[ConditionStatus, str, str],
        *,
        create: tuple[dict[str, Any], ...] = (),
        requeue_at: datetime | None = None,
        **changes: Any,
    ) -> SensorPlan:
        state, reason, message = ready
        if state == ConditionStatus.FALSE and not ready_condition_is(previous.conditions, state, reason, message):
            events.append(Event(EventType.WARNING, reason, message))
        update = {
            "observed_generation": generation,
            "conditions": set_condition(
                previous.conditions,
                READY,
                state,
                reason=reason,
                message=message,
                now=now,
                observed_generation=generation,
            ),
            "last_evaluation_time": previous.last_evaluation_time or now,
            "last_run": run_reference(latest) if latest is not None else previous.last_run,
            **changes,
        }
        return SensorPlan(
            create=create,
            delete=deletions,
            status=previous.model_copy(update=update),
            events=tuple(events),
            requeue_at=requeue_at,
            requeue_after=max((requeue_at - now).total_seconds(), 0.0) if requeue_at else None,
        )

    blocked = job_readiness(observed.job, spec.job)
    if blocked is not None:
        return plan((ConditionStatus.FALSE, *blocked))
    if observed.graph is None or observed.job is None:
        location = observed.job.spec.code_location if observed.job else "?"
        return plan(
            (
                ConditionStatus.FALSE,
                "CodeLocationNotReady",
                f"the assets of code location {location!r} are not known yet",
            )
        )
    try:
        watched = [key.to_user_string() for key in resolve_selection(spec.selection, observed.graph)]
    except SelectionError as error:
        return plan((ConditionStatus.FALSE, "InvalidSelection", f"spec.selection: {error}"))
    if not watched:
        return plan(
            (
                ConditionStatus.FALSE,
                "NoWatchedAssets",
                f"selection {spec.selection!r} matches no asset of code location {observed.job.spec.code_location!r}",
            )
        )
    # The cursor keeps only assets of the graph: bounded, and a removed asset's entry is dropped.
    known = {key.to_user_string() for key in observed.graph.keys}
    kept_cursor = [entry for key, entry in sorted(cursor.items()) if key in known]
    if spec.suspend:
        ready = (ConditionStatus.TRUE, "Suspended", "suspended: no runs start until spec.suspend is false")
        return plan(ready, cursor=kept_cursor or None)
    ready = (ConditionStatus.TRUE, "Watching", f"watching {len(watched)} asset(s), trigger {spec.trigger}")

    new = new_materializations(watched, observed.materializations, cursor, sensor.metadata.creation_timestamp)
    fires = bool(new) if spec.trigger == SensorTrigger.ANY else len(new) == len(watched)
    if not fires:
        return plan(ready, cursor=kept_cursor or None)
    last_trigger = previous.last_trigger
    if last_trigger is not None and spec.minimum_interval_seconds:
        allowed_at = last_trigger.time + timedelta(seconds=spec.minimum_interval_seconds)
        if now < allowed_at:
            return plan(ready, cursor=kept_cursor or None, requeue_at=allowed_at)

    run_name = sensor_run_name(name, new)
    existing = {run.metadata.name: run for run in observed.runs}
    create: tuple[dict[str, Any], ...] = ()
    trigger_time = now
    if run_name in existing:
        # Created by an earlier plan whose status write was lost: record it, do not create it again.
        trigger_time = existing[run_name].metadata.creation_timestamp or now
    else:
        trigger = RunTrigger(type=TriggerType.SENSOR, sensor=name)
        create = (
            run_manifest(
                sensor,
                name=run_name,
                job=observed.job,
                trigger=trigger,
                owner_label=SENSOR_LABEL,
                tags=spec.tags,
                config=spec.config,
            ),
        )
        assets = ", ".join(sorted(new))
        events.append(
            Event(EventType.NORMAL, "RunCreated", f"created run {run_name} for new materializations of {assets}")
        )
    consumed = {key: SensorCursorEntry(key=key, time=m.time, run_name=m.run_name) for key, m in new.items()}
    merged = {entry.key: entry for entry in kept_cursor} | consumed
    return plan(
        ready,
        create=create,
        cursor=[merged[key] for key in sorted(merged)],
        last_evaluation_time=now,
        last_trigger=SensorTriggerRecord(time=trigger_time, run_name=run_name, assets=sorted(new)),
        last_run=run_reference(existing[run_name])
        if run_name in existing
        else RunReference(name=run_name, phase=RunPhase.PENDING),
    )

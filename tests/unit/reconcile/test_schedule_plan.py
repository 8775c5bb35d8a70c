"""plan_schedule end to end with a fake clock: the runs a schedule creates, cancels and deletes, its
status and Events, and that replaying a plan (restart, second replica, lost status write) is harmless."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubeasset.api import AssetJob, AssetRun, AssetSchedule, parse_resource
from kubeasset.api.assetrun import SCHEDULED_TIME_ANNOTATION
from kubeasset.reconcile.plan_items import EventType
from kubeasset.reconcile.schedule import ScheduleObservation, SchedulePlan, plan_schedule, schedule_run_name

UID = "schedule-uid"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def schedule(status: dict[str, Any] | None = None, name: str = "hourly", **spec: Any) -> AssetSchedule:
    body: dict[str, Any] = {
        "apiVersion": "kubeasset.dev/v1alpha1",
        "kind": "AssetSchedule",
        "metadata": {
            "name": name,
            "namespace": "shop",
            "uid": UID,
            "generation": 4,
            "creationTimestamp": "2027-01-01T00:00:00Z",
        },
        "spec": {"job": "sales", "cron": ["0 * * * *"], **spec},
    }
    if status is not None:
        body["status"] = status
    resource = parse_resource(body)
    assert isinstance(resource, AssetSchedule)
    return resource


def job(ready: bool = True) -> AssetJob:
    condition = {
        "type": "Ready",
        "status": "True" if ready else "False",
        "reason": "Resolved" if ready else "CodeLocationNotReady",
        "message": "" if ready else "code location 'shop' failed to import",
        "lastTransitionTime": "2027-01-01T00:00:00Z",
    }
    body = {
        "apiVersion": "kubeasset.dev/v1alpha1",
        "kind": "AssetJob",
        "metadata": {"name": "sales", "namespace": "shop", "uid": "job-uid"},
        "spec": {"codeLocation": "shop", "selection": "group:sales"},
        "status": {"conditions": [condition]},
    }
    resource = parse_resource(body)
    assert isinstance(resource, AssetJob)
    return resource


def run(
    tick: str,
    phase: str | None = None,
    *,
    completed: str | None = None,
    owner: str = UID,
    cancel: bool = False,
    schedule_name: str = "hourly",
) -> AssetRun:
    scheduled = at(tick)
    body: dict[str, Any] = {
        "apiVersion": "kubeasset.dev/v1alpha1",
        "kind": "AssetRun",
        "metadata": {
            "name": schedule_run_name(schedule_name, scheduled),
            "namespace": "shop",
            "uid": f"run-{tick}",
            "creationTimestamp": f"{tick}Z",
            "ownerReferences": [
                {"apiVersion": "kubeasset.dev/v1alpha1", "kind": "AssetSchedule", "name": schedule_name, "uid": owner}
            ],
        },
        "spec": {
            "job": "sales",
            "cancel": cancel,
            "trigger": {"type": "Schedule", "schedule": schedule_name, "scheduledTime": f"{tick}Z"},
        },
    }
    if phase is not None:
        body["status"] = {"phase": phase, **({"completionTime": f"{completed}Z"} if completed else {})}
    resource = parse_resource(body)
    assert isinstance(resource, AssetRun)
    return resource


def reasons(plan: SchedulePlan) -> list[str]:
    return [event.reason for event in plan.events]


def test_a_tick_creates_one_owned_labelled_run_with_its_scheduled_time() -> None:
    last = {"lastScheduleTime": "2027-05-01T11:00:00Z"}
    resource = schedule(last, tags={"team": "sales"}, config={"currency": "EUR"})
    plan = plan_schedule(resource, ScheduleObservation(job=job()), at("2027-05-01T12:00:01"))

    (manifest,) = plan.create
    name = schedule_run_name("hourly", at("2027-05-01T12:00:00"))
    assert manifest["kind"] == "AssetRun" and manifest["metadata"]["name"] == name
    assert manifest["metadata"]["namespace"] == "shop"
    assert manifest["metadata"]["labels"]["kubeasset.dev/schedule"] == "hourly"
    assert manifest["metadata"]["labels"]["kubeasset.dev/job"] == "sales"
    assert manifest["metadata"]["annotations"] == {SCHEDULED_TIME_ANNOTATION: "2027-05-01T12:00:00Z"}
    (owner,) = manifest["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == ("AssetSchedule", "hourly", UID, True)
    assert manifest["spec"]["trigger"] == {
        "type": "Schedule",
        "schedule": "hourly",
        "scheduledTime": "2027-05-01T12:00:00Z",
    }
    assert manifest["spec"]["tags"] == {"team": "sales"} and manifest["spec"]["config"] == {"currency": "EUR"}
    parse_resource(manifest)  # what the API server will be sent is a valid AssetRun

    status = plan.status
    assert status.last_schedule_time == at("2027-05-01T12:00:00")
    assert status.next_schedule_time == at("2027-05-01T13:00:00")
    assert status.active_runs == [name] and status.last_run is not None and status.last_run.name == name
    assert status.observed_generation == 4
    assert [(c.type, c.status, c.reason) for c in status.conditions] == [("Ready", "True", "Scheduled")]
    assert plan.requeue_at == at("2027-05-01T13:00:00") and plan.requeue_after == pytest.approx(3599)
    assert reasons(plan) == ["RunCreated"]


def test_planning_again_after_the_run_exists_creates_nothing_even_if_the_status_write_was_lost() -> None:
    now = at("2027-05-01T12:00:05")
    existing = run("2027-05-01T12:00:00")
    again = plan_schedule(schedule(), ScheduleObservation(job=job(), runs=[existing]), now)
    assert again.create == ()
    assert again.status.last_schedule_time == at("2027-05-01T12:00:00")
    assert again.status.active_runs == [existing.metadata.name]


def test_a_run_created_by_an_earlier_reconcile_is_announced_with_the_status_that_records_it() -> None:
    # The controller creates a due tick's run in one reconcile and writes the status in the next.
    now = at("2027-05-01T12:00:02")
    before = schedule({"lastScheduleTime": "2027-05-01T11:00:00Z"})
    existing = run("2027-05-01T12:00:00")

    recording = plan_schedule(before, ScheduleObservation(job=job(), runs=[existing]), now)
    recorded = plan_schedule(
        schedule({"lastScheduleTime": "2027-05-01T12:00:00Z"}), ScheduleObservation(job=job(), runs=[existing]), now
    )

    assert recording.create == () and recording.status.last_schedule_time == at("2027-05-01T12:00:00")
    (announced,) = recording.events
    assert announced.reason == "RunCreated" and existing.metadata.name in announced.message
    assert "2027-05-01T12:00:00Z" in announced.message
    assert recorded.events == ()


def test_the_same_observation_gives_the_same_plan() -> None:
    observation = ScheduleObservation(job=job(), runs=[run("2027-05-01T11:00:00", "Running")])
    now = at("2027-05-01T12:00:01")
    assert plan_schedule(schedule(), observation, now) == plan_schedule(schedule(), observation, now)


def test_forbid_skips_a_tick_while_a_run_is_active_then_starts_it_within_the_deadline() -> None:
    resource = schedule(concurrencyPolicy="Forbid", startingDeadlineSeconds=900)
    busy = plan_schedule(
        resource,
        ScheduleObservation(job=job(), runs=[run("2027-05-01T11:00:00", "Running")]),
        at("2027-05-01T12:00:01"),
    )
    assert busy.create == () and "TickSkipped" in reasons(busy)
    assert "Forbid" in next(e.message for e in busy.events if e.reason == "TickSkipped")
    assert busy.status.last_schedule_time == at("2027-05-01T11:00:00")

    done = [run("2027-05-01T11:00:00", "Succeeded", completed="2027-05-01T12:05:00")]
    soon = plan_schedule(resource, ScheduleObservation(job=job(), runs=done), at("2027-05-01T12:05:01"))
    assert [m["metadata"]["name"] for m in soon.create] == [schedule_run_name("hourly", at("2027-05-01T12:00:00"))]

    late = plan_schedule(resource, ScheduleObservation(job=job(), runs=done), at("2027-05-01T12:20:00"))
    assert late.create == () and "MissedTicks" in reasons(late)


def test_forbid_catches_up_one_tick_at_a_time_oldest_first() -> None:
    resource = schedule(concurrencyPolicy="Forbid", catchUpLimit=3, status={"lastScheduleTime": "2027-05-01T08:00:00Z"})
    plan = plan_schedule(resource, ScheduleObservation(job=job()), at("2027-05-01T12:00:30"))
    assert [m["spec"]["trigger"]["scheduledTime"] for m in plan.create] == ["2027-05-01T10:00:00Z"]


def test_allow_starts_every_due_tick_up_to_the_catch_up_limit() -> None:
    resource = schedule(catchUpLimit=3, status={"lastScheduleTime": "2027-05-01T08:00:00Z"})
    plan = plan_schedule(
        resource,
        ScheduleObservation(job=job(), runs=[run("2027-05-01T08:00:00", "Running")]),
        at("2027-05-01T12:00:30"),
    )
    times = [m["spec"]["trigger"]["scheduledTime"] for m in plan.create]
    assert times == ["2027-05-01T10:00:00Z", "2027-05-01T11:00:00Z", "2027-05-01T12:00:00Z"]
    assert plan.status.last_schedule_time == at("2027-05-01T12:00:00")
    assert len(plan.status.active_runs or []) == 4
    missed = next(e for e in plan.events if e.reason == "MissedTicks")
    assert missed.type == EventType.WARNING and missed.message.startswith("1 missed tick(s) (from 2027-05-01T09:00:00Z")


def test_replace_cancels_the_active_runs_and_starts_the_newest_tick() -> None:
    resource = schedule(
        concurrencyPolicy="Replace", catchUpLimit=2, status={"lastScheduleTime": "2027-05-01T10:00:00Z"}
    )
    active = [run("2027-05-01T10:00:00", "Running"), run("2027-05-01T09:00:00", "Running", cancel=True)]
    plan = plan_schedule(resource, ScheduleObservation(job=job(), runs=active), at("2027-05-01T12:00:30"))
    assert plan.cancel == (active[0].metadata.name,)  # the one already canceled is not canceled again
    assert [m["spec"]["trigger"]["scheduledTime"] for m in plan.create] == ["2027-05-01T12:00:00Z"]
    assert "RunsReplaced" in reasons(plan) and "MissedTicks" in reasons(plan)  # 11:00 was superseded
    # Only this plan can tell them: they go out with the creation even when the status waits.
    assert [event.reason for event in plan.tick_events] == ["RunsReplaced", "MissedTicks"]
    assert set(plan.tick_events) <= set(plan.events)


def test_thousands_of_missed_ticks_start_at_most_catch_up_limit_runs() -> None:
    resource = schedule(cron=["* * * * *"], catchUpLimit=5, status={"lastScheduleTime": "2027-01-01T00:00:00Z"})
    plan = plan_schedule(resource, ScheduleObservation(job=job()), at("2027-03-01T00:00:10"))
    assert len(plan.create) == 5
    assert len({m["metadata"]["name"] for m in plan.create}) == 5
    missed = next(e for e in plan.events if e.reason == "MissedTicks")
    assert missed.message.startswith("more than ") and "from 2027-01-01T00:01:00Z" in missed.message


def test_finished_runs_beyond_the_history_limits_are_deleted_oldest_first() -> None:
    runs = [run(f"2027-05-01T0{h}:00:00", "Succeeded", completed=f"2027-05-01T0{h}:30:00") for h in range(5)]
    runs += [run("2027-05-01T05:00:00", "Failed", completed="2027-05-01T05:30:00")]
    runs += [run("2027-05-01T06:00:00", "Canceled", completed="2027-05-01T06:30:00")]
    runs += [run("2027-05-01T07:00:00", "Failed", completed="2027-05-01T07:30:00")]
    runs += [run("2027-05-01T08:00:00", "Running")]
    runs += [run("2027-04-01T08:00:00", "Succeeded", completed="2027-04-01T08:30:00", owner="older-schedule")]
    resource = schedule(
        successfulRunsHistoryLimit=2, failedRunsHistoryLimit=1, status={"lastScheduleTime": "2027-05-01T08:00:00Z"}
    )
    plan = plan_schedule(resource, ScheduleObservation(job=job(), runs=runs), at("2027-05-01T08:10:00"))
    deleted = [deletion.name for deletion in plan.delete]
    expected = [runs[i].metadata.name for i in (0, 1, 2, 5, 6)]
    assert deleted == expected
    assert all(d.uid is not None for d in plan.delete)
    assert plan.status.last_successful_time == at("2027-05-01T04:30:00")
    assert plan.status.active_runs == [runs[8].metadata.name]


def test_an_invalid_expression_makes_ready_false_with_the_column_and_warns_once() -> None:
    resource = schedule(cron=["0 6 * * *", "0 25 * * *"])
    plan = plan_schedule(resource, ScheduleObservation(job=job()), at("2027-05-01T12:00:00"))
    (ready,) = plan.status.conditions
    assert (ready.status, ready.reason) == ("False", "InvalidCron")
    assert ready.message.startswith("spec.cron[1]: invalid cron expression '0 25 * * *'")
    assert "hour field, column 3: 25 is out of range 0-23" in ready.message
    assert plan.create == () and plan.requeue_at is None and plan.status.next_schedule_time is None
    assert [(e.type, e.reason) for e in plan.events] == [(EventType.WARNING, "InvalidCron")]

    stored = schedule(cron=["0 6 * * *", "0 25 * * *"], status=plan.status.to_json())
    again = plan_schedule(stored, ScheduleObservation(job=job()), at("2027-05-01T12:05:00"))
    assert again.events == () and again.status == plan.status


def test_a_bare_cron_string_schedules_like_a_list_of_one() -> None:
    now = at("2027-05-01T12:20:00")
    bare = plan_schedule(schedule(cron="0 * * * *"), ScheduleObservation(job=job()), now)
    listed = plan_schedule(schedule(cron=["0 * * * *"]), ScheduleObservation(job=job()), now)
    assert bare.status.next_schedule_time == at("2027-05-01T13:00:00")
    assert bare.status == listed.status and bare.create == listed.create
    (ready,) = bare.status.conditions
    assert (ready.status, ready.reason) == ("True", "Scheduled")


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("0 25 * * *", "spec.cron: invalid cron expression '0 25 * * *': hour field, column 3"),
        ([], "spec.cron must be a cron expression or a list of 1-16 of them, got []"),
        (6, "spec.cron must be a cron expression or a list of 1-16 of them, got 6"),
        (["@daily"] * 17, "spec.cron must be a cron expression or a list of 1-16 of them"),
        (["@daily", 6], "spec.cron[1] must be a cron expression (a string of 1-128 characters), got 6"),
        (["  "], "spec.cron[0] must be a cron expression"),
        ("every day", "spec.cron: invalid cron expression 'every day'"),
    ],
)
def test_a_cron_field_of_the_wrong_shape_is_not_ready_and_names_the_field(cron: object, message: str) -> None:
    plan = plan_schedule(schedule(cron=cron), ScheduleObservation(job=job()), at("2027-05-01T12:00:00"))
    (ready,) = plan.status.conditions
    assert (ready.status, ready.reason) == ("False", "InvalidCron")
    assert ready.message.startswith(message), ready.message
    assert plan.create == () and plan.status.next_schedule_time is None


def test_an_unknown_time_zone_makes_ready_false() -> None:
    plan = plan_schedule(
        schedule(timezone="Mars/Olympus_Mons"), ScheduleObservation(job=job()), at("2027-05-01T12:00:00")
    )
    (ready,) = plan.status.conditions
    assert (ready.status, ready.reason) == ("False", "InvalidTimezone") and "Mars/Olympus_Mons" in ready.message


@pytest.mark.parametrize(("the_job", "reason"), [(None, "JobNotFound"), (job(ready=False), "JobNotReady")])
def test_without_a_ready_job_no_run_starts_and_ready_says_why(the_job: AssetJob | None, reason: str) -> None:
    plan = plan_schedule(schedule(), ScheduleObservation(job=the_job), at("2027-05-01T12:00:01"))
    (ready,) = plan.status.conditions
    assert (ready.status, ready.reason) == ("False", reason) and "sales" in ready.message
    assert plan.create == () and plan.requeue_at == at("2027-05-01T13:00:00")
    assert plan.status.last_schedule_time is None


def test_a_suspended_schedule_starts_nothing_and_sleeps() -> None:
    resource = schedule(suspend=True, status={"lastScheduleTime": "2027-05-01T08:00:00Z"})
    plan = plan_schedule(resource, ScheduleObservation(job=job()), at("2027-05-01T12:00:01"))
    assert plan.create == () and plan.requeue_at is None and plan.status.next_schedule_time is None
    assert plan.status.conditions[0].reason == "Suspended" and plan.events == ()


def test_a_berlin_schedule_runs_at_three_on_the_spring_day_and_sleeps_until_the_next_tick() -> None:
    resource = schedule(
        cron=["30 2 * * *"], timezone="Europe/Berlin", status={"lastScheduleTime": "2027-03-27T01:30:00Z"}
    )
    plan = plan_schedule(resource, ScheduleObservation(job=job()), at("2027-03-28T01:00:00"))
    assert [m["metadata"]["annotations"][SCHEDULED_TIME_ANNOTATION] for m in plan.create] == ["2027-03-28T01:00:00Z"]
    assert plan.requeue_at == at("2027-03-29T00:30:00")
    assert plan.requeue_after == (at("2027-03-29T00:30:00") - at("2027-03-28T01:00:00")) / timedelta(seconds=1)


def test_runs_of_a_52_character_schedule_have_valid_names() -> None:
    name = "a" * 52
    plan = plan_schedule(schedule(name=name), ScheduleObservation(job=job()), at("2027-05-01T12:00:01"))
    (manifest,) = plan.create
    assert len(manifest["metadata"]["name"]) <= 63
    assert manifest["metadata"]["labels"]["kubeasset.dev/schedule"] == name

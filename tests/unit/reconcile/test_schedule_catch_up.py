"""Which ticks of a schedule start after a gap, as CronJob decides it, driven by a fake clock."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from kubeasset.api import AssetSchedule, ConcurrencyPolicy, parse_resource
from kubeasset.reconcile.schedule import (
    ON_TIME_SECONDS,
    ConcurrencyAction,
    decide_concurrency,
    due_ticks,
    schedule_run_name,
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def schedule(created: str = "2027-01-01T00:00:00", **spec: Any) -> AssetSchedule:
    body = {
        "apiVersion": "kubeasset.dev/v1alpha1",
        "kind": "AssetSchedule",
        "metadata": {"name": "hourly", "namespace": "shop", "uid": "u-1", "creationTimestamp": f"{created}Z"},
        "spec": {"job": "sales", "cron": ["0 * * * *"], **spec},
    }
    resource = parse_resource(body)
    assert isinstance(resource, AssetSchedule)
    return resource


def test_a_new_schedule_does_not_fire_for_ticks_before_its_creation() -> None:
    due = due_ticks(schedule(created="2027-05-01T10:30:00"), None, at("2027-05-01T10:45:00"))
    assert due.start == () and due.missed == 0
    assert due.next_tick == at("2027-05-01T11:00:00")


def test_a_tick_seen_on_time_starts() -> None:
    due = due_ticks(schedule(created="2027-05-01T10:30:00"), None, at("2027-05-01T11:00:02"))
    assert due.start == (at("2027-05-01T11:00:00"),) and due.missed == 0
    assert due.next_tick == at("2027-05-01T12:00:00")


def test_after_an_outage_only_the_most_recent_tick_starts_by_default() -> None:
    due = due_ticks(schedule(), at("2027-05-01T08:00:00"), at("2027-05-01T12:10:00"))
    assert due.start == (at("2027-05-01T12:00:00"),)
    assert (due.missed, due.missed_is_exact) == (3, True)
    assert (due.oldest_missed, due.newest_missed) == (at("2027-05-01T09:00:00"), at("2027-05-01T11:00:00"))


def test_catch_up_limit_starts_that_many_of_the_newest_missed_ticks() -> None:
    due = due_ticks(schedule(catchUpLimit=3), at("2027-05-01T07:00:00"), at("2027-05-01T12:10:00"))
    assert due.start == (at("2027-05-01T10:00:00"), at("2027-05-01T11:00:00"), at("2027-05-01T12:00:00"))
    assert due.missed == 2 and due.newest_missed == at("2027-05-01T09:00:00")


def test_ticks_older_than_the_starting_deadline_are_missed() -> None:
    spec: dict[str, Any] = {"catchUpLimit": 3, "startingDeadlineSeconds": 3600}
    due = due_ticks(schedule(**spec), at("2027-05-01T07:00:00"), at("2027-05-01T12:10:00"))
    assert due.start == (at("2027-05-01T12:00:00"),)  # 11:00 is 70 minutes late
    assert due.missed == 4
    too_late = due_ticks(schedule(startingDeadlineSeconds=300), at("2027-05-01T11:00:00"), at("2027-05-01T12:10:00"))
    assert too_late.start == () and too_late.missed == 1


def test_catch_up_limit_zero_starts_only_a_tick_seen_on_time() -> None:
    on_time = due_ticks(schedule(catchUpLimit=0), at("2027-05-01T11:00:00"), at("2027-05-01T12:00:30"))
    assert on_time.start == (at("2027-05-01T12:00:00"),)
    late = due_ticks(
        schedule(catchUpLimit=0), at("2027-05-01T11:00:00"), at(f"2027-05-01T12:0{ON_TIME_SECONDS // 60 + 1}:00")
    )
    assert late.start == () and late.missed == 1


def test_a_year_of_per_minute_downtime_starts_one_run_and_reports_the_missed_ticks_cheaply() -> None:
    started = time.perf_counter()
    due = due_ticks(
        schedule("2025-06-01T00:00:00", cron=["* * * * *"]), at("2026-01-01T00:00:00"), at("2027-01-01T00:00:30")
    )
    assert time.perf_counter() - started < 1.0
    assert due.start == (at("2027-01-01T00:00:00"),)
    assert due.missed >= 999 and not due.missed_is_exact
    assert due.oldest_missed == at("2026-01-01T00:01:00")


def test_a_suspended_schedule_has_no_due_ticks_and_no_next_tick() -> None:
    due = due_ticks(schedule(suspend=True), at("2027-05-01T08:00:00"), at("2027-05-01T12:10:00"))
    assert (due.start, due.missed, due.next_tick) == ((), 0, None)


def test_resuming_applies_the_catch_up_rules_to_the_ticks_missed_while_suspended() -> None:
    # Suspended for a day: on resume, the deadline drops everything but a tick seen within 10 minutes.
    spec: dict[str, Any] = {"startingDeadlineSeconds": 600, "catchUpLimit": 5}
    due = due_ticks(schedule(**spec), at("2027-05-01T08:00:00"), at("2027-05-02T12:05:00"))
    assert due.start == (at("2027-05-02T12:00:00"),) and due.missed == 27


def test_ticks_follow_the_schedule_time_zone() -> None:
    berlin = schedule(cron=["30 2 * * *"], timezone="Europe/Berlin")
    due = due_ticks(berlin, at("2027-03-27T01:30:00"), at("2027-03-28T01:00:01"))
    assert due.start == (at("2027-03-28T01:00:00"),) and due.next_tick == at("2027-03-29T00:30:00")


@pytest.mark.parametrize(
    ("policy", "active", "action", "cancel"),
    [
        (ConcurrencyPolicy.ALLOW, ["a"], ConcurrencyAction.LAUNCH, ()),
        (ConcurrencyPolicy.FORBID, [], ConcurrencyAction.LAUNCH, ()),
        (ConcurrencyPolicy.FORBID, ["b", "a"], ConcurrencyAction.SKIP, ()),
        (ConcurrencyPolicy.REPLACE, [], ConcurrencyAction.LAUNCH, ()),
        (ConcurrencyPolicy.REPLACE, ["b", "a"], ConcurrencyAction.REPLACE, ("a", "b")),
    ],
)
def test_concurrency_policy_means_what_it_means_for_cronjob(
    policy: ConcurrencyPolicy, active: list[str], action: ConcurrencyAction, cancel: tuple[str, ...]
) -> None:
    decision = decide_concurrency(policy, active)
    assert (decision.action, decision.cancel) == (action, cancel)
    if action == ConcurrencyAction.SKIP:
        assert decision.reason is not None and "a, b still active" in decision.reason and "Forbid" in decision.reason


def test_run_names_are_the_schedule_and_the_tick_in_unix_minutes_and_fit_a_label() -> None:
    assert schedule_run_name("nightly", at("2027-03-28T01:00:00")) == "nightly-30103260"
    longest = schedule_run_name("s" * 52, at("2150-01-01T00:00:00"))
    assert len(longest) <= 63
    assert schedule_run_name("nightly", at("2027-03-28T01:00:00")) != schedule_run_name(
        "nightly", at("2027-03-28T01:01:00")
    )

"""When schedules tick, in UTC, across daylight-saving changes in four time zones (both hemispheres)."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime, timedelta

import pytest

from kubeasset.reconcile.ticks import Timetable, next_ticks, ticks_between


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def between(crons: list[str], zone: str, start: str, end: str) -> list[str]:
    """Every tick in (start, end], as 'YYYY-MM-DDTHH:MM' UTC strings."""
    ticks = itertools.takewhile(lambda tick: tick <= utc(end), Timetable.of(crons, zone).after(utc(start)))
    return [tick.strftime("%Y-%m-%dT%H:%M") for tick in ticks]


# --- fixed-time schedules: a skipped time runs at the end of the jump, a repeated one once, later -------


@pytest.mark.parametrize(
    ("zone", "cron", "day_before", "expected"),
    [
        # Clocks jump 02:00 -> 03:00: the 02:30 run happens at 03:00 local that day, then 02:30 again.
        ("Europe/Berlin", "30 2 * * *", "2027-03-27T12:00", ["2027-03-28T01:00", "2027-03-29T00:30"]),
        ("America/New_York", "30 2 * * *", "2027-03-13T12:00", ["2027-03-14T07:00", "2027-03-15T06:30"]),
        # Southern hemisphere: Sydney springs forward in October.
        ("Australia/Sydney", "30 2 * * *", "2027-10-02T00:00", ["2027-10-02T16:00", "2027-10-03T15:30"]),
        # Santiago skips midnight (00:00 -> 01:00): a midnight job runs at 01:00 local.
        ("America/Santiago", "0 0 * * *", "2027-09-04T05:00", ["2027-09-05T04:00", "2027-09-06T03:00"]),
    ],
)
def test_a_time_skipped_by_the_clocks_runs_at_the_first_instant_after_the_jump(
    zone: str, cron: str, day_before: str, expected: list[str]
) -> None:
    ticks = next_ticks([cron], zone, utc(day_before), 2)
    assert [tick.strftime("%Y-%m-%dT%H:%M") for tick in ticks] == expected


@pytest.mark.parametrize(
    ("zone", "cron", "start", "end", "expected"),
    [
        # 02:30 happens twice (CEST, then CET): one run, at the later one (02:30 CET = 01:30 UTC).
        (
            "Europe/Berlin",
            "30 2 * * *",
            "2027-10-30T12:00",
            "2027-11-01T12:00",
            ["2027-10-31T01:30", "2027-11-01T01:30"],
        ),
        (
            "America/New_York",
            "30 1 * * *",
            "2027-11-06T12:00",
            "2027-11-08T12:00",
            ["2027-11-07T06:30", "2027-11-08T06:30"],
        ),
        # Sydney falls back in April: 02:30 AEDT then 02:30 AEST (= 16:30 UTC).
        (
            "Australia/Sydney",
            "30 2 * * *",
            "2027-04-02T12:00",
            "2027-04-04T12:00",
            ["2027-04-02T15:30", "2027-04-03T16:30"],
        ),
        # Santiago repeats 23:00-24:00 on Saturday night: the later 23:30 (UTC-4).
        (
            "America/Santiago",
            "30 23 * * *",
            "2027-04-03T00:00",
            "2027-04-05T12:00",
            ["2027-04-03T02:30", "2027-04-04T03:30", "2027-04-05T03:30"],
        ),
    ],
)
def test_a_time_the_clocks_repeat_runs_once_at_the_later_occurrence(
    zone: str, cron: str, start: str, end: str, expected: list[str]
) -> None:
    assert between([cron], zone, start, end) == expected


def test_several_skipped_times_collapse_into_one_run_at_the_jump() -> None:
    # 02:00, 02:15 ... 02:45 all do not exist on the spring day: one run at 03:00, then 03:00 itself is the
    # same instant (two expressions, one run).
    ticks = between(["*/15 2 * * *", "0 3 * * *"], "Europe/Berlin", "2027-03-27T23:00", "2027-03-28T02:00")
    assert ticks == ["2027-03-28T01:00"]


def test_a_fixed_time_repeated_hour_runs_every_match_once_in_its_second_copy() -> None:
    ticks = between(["*/20 2 * * *"], "Europe/Berlin", "2027-10-30T23:00", "2027-10-31T03:00")
    assert ticks == ["2027-10-31T01:00", "2027-10-31T01:20", "2027-10-31T01:40"]


# --- schedules with every hour follow absolute time ----------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "start", "end", "expected"),
    [
        # Berlin spring: local 00:30, 01:30, (02:30 does not exist), 03:30, 04:30.
        (
            "Europe/Berlin",
            "2027-03-27T23:00",
            "2027-03-28T02:59",
            ["2027-03-27T23:30", "2027-03-28T00:30", "2027-03-28T01:30", "2027-03-28T02:30"],
        ),
        # Berlin autumn: 02:30 CEST and 02:30 CET both run, an hour apart.
        (
            "Europe/Berlin",
            "2027-10-30T23:00",
            "2027-10-31T02:59",
            ["2027-10-30T23:30", "2027-10-31T00:30", "2027-10-31T01:30", "2027-10-31T02:30"],
        ),
        (
            "America/New_York",
            "2027-11-07T04:00",
            "2027-11-07T07:59",
            ["2027-11-07T04:30", "2027-11-07T05:30", "2027-11-07T06:30", "2027-11-07T07:30"],
        ),
        (
            "Australia/Sydney",
            "2027-10-02T14:00",
            "2027-10-02T17:59",
            ["2027-10-02T14:30", "2027-10-02T15:30", "2027-10-02T16:30", "2027-10-02T17:30"],
        ),
        (
            "Australia/Sydney",
            "2027-04-03T14:00",
            "2027-04-03T17:59",
            ["2027-04-03T14:30", "2027-04-03T15:30", "2027-04-03T16:30", "2027-04-03T17:30"],
        ),
    ],
)
def test_an_hourly_schedule_keeps_running_once_an_hour_through_both_changes(
    zone: str, start: str, end: str, expected: list[str]
) -> None:
    assert between(["30 * * * *"], zone, start, end) == expected


def test_a_day_with_a_change_has_23_or_25_hourly_ticks() -> None:
    assert len(between(["@hourly"], "Europe/Berlin", "2027-03-27T23:00", "2027-03-28T22:00")) == 23
    assert len(between(["@hourly"], "Europe/Berlin", "2027-10-30T22:00", "2027-10-31T23:00")) == 25


def test_minutely_ticks_in_the_repeated_hour_come_out_in_time_order() -> None:
    ticks = list(itertools.islice(Timetable.of(["*/10 * * * *"], "America/New_York").after(utc("2027-11-07T05:35")), 8))
    assert [t.strftime("%H:%M") for t in ticks] == [
        "05:40",
        "05:50",
        "06:00",
        "06:10",
        "06:20",
        "06:30",
        "06:40",
        "06:50",
    ]
    backwards = list(itertools.islice(Timetable.of(["*/10 * * * *"], "America/New_York").before(ticks[-1]), 8))
    assert backwards == ticks[::-1]


# --- several expressions, and the window API -----------------------------------------------------------


def test_several_expressions_tick_at_their_union_without_duplicates() -> None:
    crons = ["0 6 * * *", "0 18 * * 1-5", "0 6,18 * * 5"]
    ticks = between(crons, "Europe/Berlin", "2027-06-03T00:00", "2027-06-06T00:00")  # Thursday to Saturday
    assert ticks == ["2027-06-03T04:00", "2027-06-03T16:00", "2027-06-04T04:00", "2027-06-04T16:00", "2027-06-05T04:00"]


def test_utc_and_a_plain_string_work() -> None:
    assert next_ticks("*/5 * * * *", "UTC", utc("2027-01-01T00:02"), 2) == [
        utc("2027-01-01T00:05"),
        utc("2027-01-01T00:10"),
    ]


def test_ticks_after_an_instant_on_a_tick_exclude_it() -> None:
    assert next_ticks(["0 * * * *"], "UTC", utc("2027-01-01T05:00"), 1) == [utc("2027-01-01T06:00")]


def test_a_year_of_per_minute_downtime_yields_the_newest_ticks_without_walking_the_year() -> None:
    started = time.perf_counter()
    window = ticks_between(
        ["* * * * *"], "Europe/Berlin", utc("2026-01-01T00:00"), utc("2027-01-01T00:00"), 3, count_cap=500
    )
    assert time.perf_counter() - started < 1.0
    assert window.ticks == (utc("2026-12-31T23:58"), utc("2026-12-31T23:59"), utc("2027-01-01T00:00"))
    assert window.total == 500 and not window.total_is_exact


def test_a_window_counts_its_ticks_exactly_when_below_the_cap() -> None:
    window = ticks_between(["@hourly"], "Europe/Berlin", utc("2027-10-30T22:00"), utc("2027-10-31T23:00"), 2)
    assert window.total == 25 and window.total_is_exact
    assert window.ticks == (utc("2027-10-31T22:00"), utc("2027-10-31T23:00"))
    empty = ticks_between(["0 0 1 1 *"], "UTC", utc("2027-01-02T00:00"), utc("2027-06-01T00:00"), 5)
    assert (empty.ticks, empty.total, empty.total_is_exact) == ((), 0, True)


def test_a_yearly_leap_day_schedule_finds_its_next_leap_year() -> None:
    assert next_ticks(["0 0 29 2 *"], "UTC", utc("2027-01-01T00:00"), 2) == [
        utc("2028-02-29T00:00"),
        utc("2032-02-29T00:00"),
    ]


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        next_ticks(["@daily"], "UTC", datetime(2027, 1, 1), 1)


def test_windows_are_half_open() -> None:
    tick = utc("2027-01-01T06:00")
    window = Timetable.of(["0 6 * * *"], "UTC").ticks_between(tick - timedelta(days=1), tick, 5)
    assert window.ticks == (tick,)
    assert Timetable.of(["0 6 * * *"], "UTC").ticks_between(tick, tick + timedelta(hours=1), 5).total == 0

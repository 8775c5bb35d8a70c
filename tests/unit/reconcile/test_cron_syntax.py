"""Cron expressions as a person writes them in an AssetSchedule: what is accepted, and where a mistake is."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kubeasset.errors import CronError, KubeassetError, TimezoneError
from kubeasset.reconcile.cron import parse_cron
from kubeasset.reconcile.ticks import Timetable, load_timezone, next_ticks


@pytest.mark.parametrize(
    ("text", "field", "column", "problem"),
    [
        ("0 25 * * *", "hour", 3, "25 is out of range 0-23"),
        ("60 * * * *", "minute", 1, "60 is out of range 0-59"),
        ("0 0 0 * *", "day-of-month", 5, "0 is out of range 1-31"),
        ("0 0 * 13 *", "month", 7, "13 is out of range 1-12"),
        ("0 0 * * 8", "day-of-week", 9, "8 is out of range 0-7"),
        ("*/0 * * * *", "minute", 3, "step '0' must be a positive whole number"),
        ("0 9-17/x * * *", "hour", 8, "step 'x'"),
        ("0 0 1,,15 * *", "day-of-month", 7, "empty list item"),
        ("0 17-9 * * *", "hour", 3, "runs backwards"),
        ("0 0 * foo *", "month", 7, "'foo' is not a number 1-12 or a name"),
        ("0 0 * * 1,funday", "day-of-week", 11, "'funday' is not"),
        ("0 ? * * *", "hour", 3, "'?' is allowed only in the day-of-month and day-of-week fields"),
        ("0 0 30 2 *", "day-of-month", 5, "never occurs in month 2"),
        ("  5 4 * * 1-5,x", "day-of-week", 15, "'x' is not"),
    ],
)
def test_a_bad_field_is_reported_with_its_name_and_column(text: str, field: str, column: int, problem: str) -> None:
    with pytest.raises(CronError) as raised:
        parse_cron(text)
    assert (raised.value.field, raised.value.column) == (field, column)
    assert problem in str(raised.value)
    assert f"{field} field, column {column}" in str(raised.value)
    assert text[column - 1] != " "  # the column points at a character of the field, not at a blank


@pytest.mark.parametrize(
    ("text", "column", "problem"),
    [
        ("0 0 * *", 8, "expected 5 fields"),
        ("0 0 * * * 2027", 11, "found 6"),
        ("@fortnightly", 1, "unknown macro '@fortnightly'"),
        ("@reboot", 1, "the macros are @yearly"),
    ],
)
def test_a_wrong_shape_points_at_where_it_goes_wrong(text: str, column: int, problem: str) -> None:
    with pytest.raises(CronError) as raised:
        parse_cron(text)
    assert raised.value.column == column and raised.value.field is None
    assert problem in str(raised.value)
    assert isinstance(raised.value, KubeassetError)


@pytest.mark.parametrize(
    ("macro", "equivalent"),
    [
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
    ],
)
def test_macros_mean_their_five_field_form(macro: str, equivalent: str) -> None:
    assert parse_cron(macro).croniter_form == parse_cron(equivalent).croniter_form


def test_names_ranges_steps_and_sunday_as_7_are_understood() -> None:
    expression = parse_cron("5/20 9-17/4 ? JAN-mar,dec Mon-Fri,7")
    assert expression.minutes == {5, 25, 45}
    assert expression.hours == {9, 13, 17}
    assert expression.months == {1, 2, 3, 12}
    assert expression.days_of_week == {0, 1, 2, 3, 4, 5}
    assert not expression.every_hour


@pytest.mark.parametrize(
    ("text", "every_hour"),
    [
        ("* * * * *", True),
        ("0 */1 * * *", True),
        ("0 0-23 * * *", True),
        ("@hourly", True),
        ("0 */2 * * *", False),
        ("0 1-23 * * *", False),
    ],
)
def test_an_hour_field_covering_every_hour_is_recognised(text: str, every_hour: bool) -> None:
    assert parse_cron(text).every_hour is every_hour


def test_day_fields_combine_as_in_vixie_cron() -> None:
    assert parse_cron("0 0 1 * mon").day_or  # both restricted: either day runs
    assert not parse_cron("0 0 */2 * mon").day_or  # a field starting with '*': both must match
    assert not parse_cron("0 0 ? * mon").day_or


def test_an_unknown_time_zone_is_a_clear_error() -> None:
    with pytest.raises(TimezoneError, match="unknown time zone 'Europe/Berlinn'.*IANA name"):
        load_timezone("Europe/Berlinn")
    with pytest.raises(TimezoneError):
        Timetable.of(["0 0 * * *"], "../../etc/passwd")
    assert str(load_timezone("America/Argentina/Buenos_Aires")) == "America/Argentina/Buenos_Aires"


def test_the_first_bad_expression_of_a_list_is_reported() -> None:
    with pytest.raises(CronError) as raised:
        Timetable.of(["0 6 * * *", "0 18 * * 1-8"], "UTC")
    assert raised.value.expression == "0 18 * * 1-8" and raised.value.field == "day-of-week"


def test_a_day_field_listing_every_day_makes_every_day_run_when_days_combine_by_or() -> None:
    # Both day fields restricted (no '*'): either matches; 0-6 matches every weekday, so every day runs.
    ticks = next_ticks(["0 0 1 * 0-6"], "UTC", datetime(2027, 1, 5, tzinfo=UTC), 2)
    assert ticks == [datetime(2027, 1, 6, tzinfo=UTC), datetime(2027, 1, 7, tzinfo=UTC)]

"""``kubeasset schedule next`` as a person uses it to check a schedule before applying it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from kubeasset.cli.main import cli
from kubeasset.cli.schedule_commands import schedule
from tests.unit.cli.conftest import Outcome

RunCli = Callable[..., Outcome]


@pytest.fixture(autouse=True)
def schedule_command() -> Iterator[None]:
    """The group as the lead wires it into ``kubeasset`` (added here if main does not have it yet)."""
    added = "schedule" not in cli.commands
    if added:
        cli.add_command(schedule)
    yield
    if added:
        del cli.commands["schedule"]


def test_next_prints_utc_instants_one_per_line_with_the_dst_rules(run_cli: RunCli) -> None:
    outcome = run_cli(
        "schedule",
        "next",
        "30 2 * * *",
        "--timezone",
        "Europe/Berlin",
        "--after",
        "2027-03-27T12:00:00Z",
        "--count",
        "3",
    )
    assert outcome.exit_code == 0, outcome.err
    assert outcome.out.splitlines() == ["2027-03-28T01:00:00Z", "2027-03-29T00:30:00Z", "2027-03-30T00:30:00Z"]


def test_several_expressions_print_their_union(run_cli: RunCli) -> None:
    outcome = run_cli("schedule", "next", "0 6 * * *", "0 18 * * *", "--after", "2027-01-01T00:00:00Z", "-n", "3")
    assert outcome.out.splitlines() == ["2027-01-01T06:00:00Z", "2027-01-01T18:00:00Z", "2027-01-02T06:00:00Z"]


def test_an_after_time_without_offset_is_read_in_the_time_zone(run_cli: RunCli) -> None:
    outcome = run_cli("schedule", "next", "@hourly", "-z", "America/New_York", "--after", "2027-07-01T00:00", "-n", "1")
    assert outcome.out.splitlines() == ["2027-07-01T05:00:00Z"]  # 01:00 EDT


def test_without_after_the_ticks_are_in_the_future(run_cli: RunCli) -> None:
    outcome = run_cli("schedule", "next", "* * * * *", "-n", "2")
    ticks = [datetime.fromisoformat(line) for line in outcome.out.splitlines()]
    assert len(ticks) == 2 and datetime.now(UTC) < ticks[0] < ticks[1]


def test_a_bad_expression_exits_2_with_the_field_and_column(run_cli: RunCli) -> None:
    outcome = run_cli("schedule", "next", "0 25 * * *")
    assert outcome.exit_code == 2 and outcome.out == ""
    assert outcome.err.strip() == (
        "error: invalid cron expression '0 25 * * *': hour field, column 3: 25 is out of range 0-23"
    )


def test_an_unknown_zone_exits_2(run_cli: RunCli) -> None:
    outcome = run_cli("schedule", "next", "@daily", "--timezone", "Europe/Atlantis")
    assert outcome.exit_code == 2 and "unknown time zone 'Europe/Atlantis'" in outcome.err


def test_a_bad_after_time_is_a_usage_error(run_cli: RunCli) -> None:
    outcome = run_cli("schedule", "next", "@daily", "--after", "yesterday")
    assert outcome.exit_code == 2 and "--after" in outcome.err and "ISO 8601" in outcome.err

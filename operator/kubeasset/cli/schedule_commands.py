"""``kubeasset schedule``: check a schedule's timing before applying it, computed by the controller's code.

``kubeasset schedule next '30 2 * * *' --timezone Europe/Berlin --count 3`` prints the next ticks exactly
as the controller will start them (daylight-saving rules included), one UTC instant per line.
"""

from __future__ import annotations

from datetime import UTC, datetime

import click

from kubeasset.api.types import format_time
from kubeasset.reconcile.ticks import Timetable

#: The most ticks one call prints.
MAX_COUNT = 1000


@click.group()
def schedule() -> None:
    """Inspect cron schedules as AssetSchedules evaluate them."""


@schedule.command("next")
@click.argument("crons", nargs=-1, required=True, metavar="CRON...")
@click.option("--timezone", "-z", default="UTC", show_default=True, help="IANA time zone the expressions are read in.")
@click.option(
    "--after",
    metavar="ISO-TIME",
    help="Print ticks strictly after this time (ISO 8601; without an offset it is read in --timezone). Default: now.",
)
@click.option("--count", "-n", default=5, show_default=True, type=click.IntRange(1, MAX_COUNT), help="How many ticks.")
def next_command(crons: tuple[str, ...], timezone: str, after: str | None, count: int) -> None:
    """Print the next ticks of CRON (several: their union) as UTC instants, one per line.

    Example: kubeasset schedule next "30 2 * * *" --timezone Europe/Berlin --after 2027-03-27T12:00:00Z
    """
    # Parsing first: a bad expression or zone is reported (exit 2) before --after is looked at.
    timetable = Timetable.of(crons, timezone)
    moment = datetime.now(UTC) if after is None else _parse_after(after, timetable)
    for tick in timetable.next_ticks(moment, count):
        click.echo(format_time(tick))


def _parse_after(text: str, timetable: Timetable) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not an ISO 8601 time such as 2027-03-28T00:00:00Z", param_hint="--after"
        ) from None
    return moment.replace(tzinfo=timetable.zone) if moment.tzinfo is None else moment

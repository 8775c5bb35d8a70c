"""The instants at which cron expressions tick in an IANA time zone, with Dagster's daylight-saving rules.

croniter finds the matching wall-clock times (it is given naive local times, so it never sees a
daylight-saving change); this module decides which instants those wall times are:

* a fixed-time tick (the hour field does not cover every hour) whose local time does not exist, because
  the clocks jump forward over it, fires once at the first instant after the jump (a daily 02:30 job in
  Europe/Berlin runs at 03:00 local on the last Sunday of March);
* a fixed-time tick whose local time occurs twice, because the clocks go back, fires once, at the later
  occurrence (Dagster's rule: a daily 02:30 job in Europe/Berlin runs at 02:30 CET, not CEST);
* an expression whose hour field covers every hour (``*/15 * * * *``, ``@hourly``) follows absolute time:
  no tick in the skipped hour, ticks in both copies of the repeated hour.

Several expressions tick at the union of their instants (one run per instant). Iteration is lazy in both
directions, so a year of downtime with a per-minute expression costs only the ticks actually looked at.

Example::

    next_ticks(["30 2 * * *"], "Europe/Berlin", after=datetime(2027, 3, 27, 12, tzinfo=UTC), count=2)
    # [2027-03-28 01:00 UTC (03:00 CEST), 2027-03-29 00:30 UTC (02:30 CEST)]
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

from kubeasset.api.assetschedule import AssetScheduleSpec
from kubeasset.errors import CronError, ScheduleError, TimezoneError
from kubeasset.reconcile.cron import CronExpression, parse_cron

#: Two offset changes of one zone are assumed to be at least this far apart (true of every zone in the
#: tz database since 1900): the offsets at an instant and this long after it bound the wall-clock times
#: that can map to instants near it.
_TRANSITION_SPACING: Final = timedelta(hours=48)
_ONE_SECOND: Final = timedelta(seconds=1)


def load_timezone(name: str) -> ZoneInfo:
    """The IANA zone ``name`` (``Europe/Berlin``, ``UTC``); raises :class:`~kubeasset.errors.TimezoneError`
    for a name the tz database does not know.

    Example: ``load_timezone("Australia/Sydney")``.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        # ValueError: a name ZoneInfo refuses outright (an absolute path, '..'); not a zone either way.
        raise TimezoneError(
            f"unknown time zone {name!r}: use an IANA name such as 'UTC', 'Europe/Berlin' or 'America/New_York'",
            timezone=name,
        ) from error


@dataclass(frozen=True)
class TickWindow:
    """The ticks in a window ``(start, end]``: the newest ones, and how many there are.

    ``ticks`` holds at most the asked-for number of the newest ticks, oldest first. ``total`` counts every
    tick of the window up to a cap; ``total_is_exact`` is False when the count stopped at the cap (the
    window holds more).
    """

    ticks: tuple[datetime, ...]
    total: int
    total_is_exact: bool


@dataclass(frozen=True)
class Timetable:
    """The ticks of one or more cron expressions in one time zone.

    Example::

        timetable = Timetable.of(["0 6 * * *", "0 18 * * 1-5"], "Europe/Berlin")
        timetable.next_ticks(now, 3)
    """

    expressions: tuple[CronExpression, ...]
    zone: ZoneInfo

    @classmethod
    def of(cls, crons: str | Sequence[str], timezone: str) -> Timetable:
        """Parse ``crons`` (one expression or several) in ``timezone``; raises a
        :class:`~kubeasset.errors.ScheduleError` (CronError or TimezoneError) for bad input."""
        texts = [crons] if isinstance(crons, str) else list(crons)
        if not texts:
            raise ScheduleError("a schedule needs at least one cron expression")
        return cls(tuple(parse_cron(text) for text in texts), load_timezone(timezone))

    @classmethod
    def of_spec(cls, spec: AssetScheduleSpec) -> Timetable:
        """The timetable of an AssetSchedule's spec; a CronError names the expression's field path
        (``spec.cron[1]: invalid cron expression ...``), as the user wrote it."""
        expressions = []
        for path, text in spec.cron_expressions():
            try:
                expressions.append(parse_cron(text))
            except CronError as error:
                raise CronError(
                    f"{path}: {error}", expression=error.expression, field=error.field, column=error.column
                ) from error
        return cls(tuple(expressions), load_timezone(spec.timezone))

    def after(self, moment: datetime) -> Iterator[datetime]:
        """Every tick strictly after ``moment``, ascending, as aware UTC datetimes (endless)."""
        _require_aware(moment)
        streams = [self._ascending(expression, moment) for expression in self.expressions]
        return _unique(heapq.merge(*streams))

    def before(self, moment: datetime) -> Iterator[datetime]:
        """Every tick at or before ``moment``, descending, as aware UTC datetimes."""
        _require_aware(moment)
        streams = [self._descending(expression, moment) for expression in self.expressions]
        return _unique(heapq.merge(*streams, reverse=True))

    def next_ticks(self, after: datetime, count: int) -> list[datetime]:
        """The first ``count`` ticks strictly after ``after``."""
        return list(itertools.islice(self.after(after), count))

    def ticks_between(self, start: datetime, end: datetime, limit: int, count_cap: int = 1000) -> TickWindow:
        """The ticks in ``(start, end]``: the newest ``limit`` of them and their number (counted up to
        ``count_cap``). Walks backwards from ``end``, so a long window costs at most ``count_cap`` ticks."""
        _require_aware(start)
        newest: list[datetime] = []
        total = 0
        for tick in self.before(end):
            if tick <= start:
                return TickWindow(tuple(reversed(newest)), total, True)
            if total >= max(count_cap, limit):
                return TickWindow(tuple(reversed(newest)), total, False)
            total += 1
            if len(newest) < limit:
                newest.append(tick)
        return TickWindow(tuple(reversed(newest)), total, True)

    # --- one expression -----------------------------------------------------------------------------

    def _ascending(self, expression: CronExpression, moment: datetime) -> Iterator[datetime]:
        # The earliest local wall time that can map to an instant after `moment` is `moment` read with the
        # smaller of the offsets in force around it (a later backward change makes wall times repeat).
        offset = min(self._offset(moment), self._offset(moment + _TRANSITION_SPACING))
        start = (moment.astimezone(UTC) + offset).replace(tzinfo=None) - _ONE_SECOND
        pending: list[datetime] = []
        for wall in _walls(expression, start, forward=True):
            instants = self._instants(expression, wall)
            for instant in instants:
                heapq.heappush(pending, instant)
            # Wall times map to instants in order except inside a repeated hour, where a later wall time's
            # first occurrence can come before an earlier one's second; an instant is final once no later
            # wall time can map before it, i.e. once it is <= the earliest instant of this wall time.
            while pending and instants and pending[0] <= instants[0]:
                instant = heapq.heappop(pending)
                if instant > moment:
                    yield instant
        for instant in sorted(pending):  # croniter found no further match: what is left is final
            if instant > moment:
                yield instant

    def _descending(self, expression: CronExpression, moment: datetime) -> Iterator[datetime]:
        # The mirror image of _ascending: the latest wall time that can map to an instant at or before
        # `moment` is `moment` read with the larger of the offsets in force around it.
        offset = max(self._offset(moment), self._offset(moment - _TRANSITION_SPACING))
        start = (moment.astimezone(UTC) + offset).replace(tzinfo=None) + _ONE_SECOND
        pending: list[tuple[float, datetime]] = []  # a max-heap: keyed by the negated timestamp
        for wall in _walls(expression, start, forward=False):
            instants = self._instants(expression, wall)
            for instant in instants:
                heapq.heappush(pending, (-instant.timestamp(), instant))
            while pending and instants and pending[0][1] >= instants[-1]:
                instant = heapq.heappop(pending)[1]
                if instant <= moment:
                    yield instant
        for _, instant in sorted(pending):
            if instant <= moment:
                yield instant

    def _offset(self, moment: datetime) -> timedelta:
        offset = moment.astimezone(self.zone).utcoffset()
        assert offset is not None  # a ZoneInfo always knows its offset
        return offset

    def _instants(self, expression: CronExpression, wall: datetime) -> list[datetime]:
        """The instants (UTC, ascending) at which the local wall time ``wall`` ticks."""
        first = wall.replace(tzinfo=self.zone, fold=0).astimezone(UTC)
        second = wall.replace(tzinfo=self.zone, fold=1).astimezone(UTC)
        if first == second:
            return [first]
        earlier, later = min(first, second), max(first, second)
        if earlier.astimezone(self.zone).replace(tzinfo=None) == wall:
            # The wall time occurs twice (clocks went back).
            return [earlier, later] if expression.every_hour else [later]
        # The wall time does not exist (clocks jumped forward over it).
        return [] if expression.every_hour else [self._transition(wall, earlier, later)]

    def _transition(self, wall: datetime, low: datetime, high: datetime) -> datetime:
        """The instant the clocks jumped forward over ``wall``: the first instant whose local time is after
        ``wall``, searched by seconds between the gap's two readings ``low`` < it <= ``high``."""
        low_second, high_second = int(low.timestamp()), int(high.timestamp())
        while high_second - low_second > 1:
            middle = (low_second + high_second) // 2
            local = datetime.fromtimestamp(middle, self.zone).replace(tzinfo=None)
            if local >= wall:
                high_second = middle
            else:
                low_second = middle
        return datetime.fromtimestamp(high_second, UTC)


def _walls(expression: CronExpression, start: datetime, *, forward: bool) -> Iterator[datetime]:
    """The local wall times (naive) matching ``expression`` after (or before) the naive ``start``."""
    matcher = croniter(expression.croniter_form, start, day_or=expression.day_or)
    step: Callable[[type[datetime]], datetime] = matcher.get_next if forward else matcher.get_prev
    while True:
        try:
            yield step(datetime)
        except CroniterBadDateError:
            return  # no further match within croniter's search horizon (beyond year 9999, or none)


def _unique(instants: Iterable[datetime]) -> Iterator[datetime]:
    # Several expressions (or several skipped wall times) can tick at the same instant: one tick each.
    previous: datetime | None = None
    for instant in instants:
        if instant != previous:
            yield instant
        previous = instant


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment!r} is a naive datetime: ticks are computed from aware instants")


def next_ticks(crons: str | Sequence[str], timezone: str, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` ticks (UTC, ascending, strictly after ``after``) of ``crons`` in ``timezone``.

    Example::

        next_ticks("@daily", "America/New_York", datetime(2027, 3, 13, tzinfo=UTC), 1)
        # [datetime(2027, 3, 13, 5, 0, tzinfo=UTC)]
    """
    return Timetable.of(crons, timezone).next_ticks(after, count)


def ticks_between(
    crons: str | Sequence[str], timezone: str, start: datetime, end: datetime, limit: int, count_cap: int = 1000
) -> TickWindow:
    """The ticks of ``crons`` in ``(start, end]``: the newest ``limit`` and how many there are (up to
    ``count_cap``); see :meth:`Timetable.ticks_between`."""
    return Timetable.of(crons, timezone).ticks_between(start, end, limit, count_cap)

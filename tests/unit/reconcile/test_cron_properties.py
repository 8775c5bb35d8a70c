"""Properties of tick computation: for random cron expressions and zones, the ticks around daylight-saving
changes are exactly those a minute-by-minute scan of the clock finds, applying the rules by their
definition; anywhere in time the next ticks come after the moment, in order, each matching the expression
(or at the instant the clocks jumped over it); a window's ticks agree with ``after``/``before``; catch-up
starts at most ``catchUpLimit`` ticks, the newest due ones."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kubeasset.api import AssetSchedule
from kubeasset.api.registry import parse_resource
from kubeasset.errors import CronError
from kubeasset.reconcile.schedule import MISSED_COUNT_CAP, ON_TIME_SECONDS, due_ticks
from kubeasset.reconcile.ticks import Timetable

ZONES = (
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
    "America/Santiago",
    "Australia/Lord_Howe",  # a 30-minute daylight-saving shift
    "UTC",
    "Asia/Kolkata",
)
MINUTE = timedelta(minutes=1)
WINDOW = timedelta(hours=5)


def _offset_changes(zone: ZoneInfo) -> list[datetime]:
    changes = []
    moment = datetime(2027, 1, 1, tzinfo=UTC)
    while moment.year == 2027:
        following = moment + timedelta(minutes=30)
        if following.astimezone(zone).utcoffset() != moment.astimezone(zone).utcoffset():
            changes.append(following)
        moment = following
    return changes or [datetime(2027, 6, 1, tzinfo=UTC)]  # somewhere ordinary, for zones without changes


CHANGES = {name: _offset_changes(ZoneInfo(name)) for name in ZONES}


@dataclass(frozen=True)
class Field:
    text: str
    values: frozenset[int]
    star: bool


def field(low: int, high: int, *, star_weight: int = 1) -> st.SearchStrategy[Field]:
    everything = st.just(Field("*", frozenset(range(low, high + 1)), True))
    single = st.integers(low, high).map(lambda n: Field(str(n), frozenset({n}), False))
    listed = st.sets(st.integers(low, high), min_size=1, max_size=4).map(
        lambda ns: Field(",".join(map(str, sorted(ns))), frozenset(ns), False)
    )
    stepped = st.integers(2, 20).map(lambda s: Field(f"*/{s}", frozenset(range(low, high + 1, s)), True))
    ranged = st.tuples(st.integers(low, high), st.integers(low, high), st.integers(1, 5)).map(
        lambda t: Field(
            f"{min(t[0], t[1])}-{max(t[0], t[1])}/{t[2]}",
            frozenset(range(min(t[0], t[1]), max(t[0], t[1]) + 1, t[2])),
            False,
        )
    )
    return st.one_of(*([everything] * star_weight), single, listed, stepped, ranged)


@dataclass(frozen=True)
class Cron:
    minute: Field
    hour: Field
    dom: Field
    month: Field
    dow: Field

    @property
    def text(self) -> str:
        return " ".join(f.text for f in (self.minute, self.hour, self.dom, self.month, self.dow))

    def matches(self, wall: datetime) -> bool:
        # The definition of cron matching (Vixie): both day fields restricted -> either; else both.
        dom = wall.day in self.dom.values
        dow = (wall.isoweekday() % 7) in self.dow.values
        day = (dom or dow) if not (self.dom.star or self.dow.star) else (dom and dow)
        return (
            wall.minute in self.minute.values
            and wall.hour in self.hour.values
            and day
            and wall.month in self.month.values
        )


def crons(change: datetime, zone: ZoneInfo) -> st.SearchStrategy[Cron]:
    """Random expressions, half of them with an hour field naming the hour the clocks skip or repeat at
    ``change`` (else a fixed-time expression would rarely meet a change at all)."""
    after = change.astimezone(zone)
    changed_hours = sorted({after.hour, (after - timedelta(hours=1)).hour})
    focused = st.sets(st.sampled_from(changed_hours), min_size=1).map(
        lambda hours: Field(",".join(map(str, sorted(hours))), frozenset(hours), False)
    )
    return st.builds(
        Cron,
        minute=field(0, 59, star_weight=2),
        hour=st.one_of(focused, field(0, 23, star_weight=3)),
        dom=st.one_of(containing(after.day, 1, 31), field(1, 31, star_weight=2)),
        month=st.one_of(containing(after.month, 1, 12), field(1, 12, star_weight=3)),
        dow=st.one_of(containing(after.isoweekday() % 7, 0, 6), field(0, 6, star_weight=2)),
    )


def containing(value: int, low: int, high: int) -> st.SearchStrategy[Field]:
    """A list field holding ``value`` (the day, month or weekday of the change) and maybe others."""
    return st.sets(st.integers(low, high), max_size=3).map(
        lambda others: Field(",".join(map(str, sorted(others | {value}))), frozenset(others | {value}), False)
    )


def expected_ticks(cron: Cron, zone: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """Scan every minute of (start - 1 day, end] and apply the rules to what the clock shows."""
    every_hour = cron.hour.values == frozenset(range(24))
    ticks: set[datetime] = set()
    moment = start - timedelta(days=1)
    while moment < end:
        following = moment + MINUTE
        wall = following.astimezone(zone).replace(tzinfo=None)
        if cron.matches(wall):
            repeated = wall.replace(tzinfo=zone, fold=0).utcoffset() != wall.replace(tzinfo=zone, fold=1).utcoffset()
            first_copy = following.astimezone(zone).fold == 0
            if every_hour or not repeated or not first_copy:
                ticks.add(following)
        # Clocks jumped forward between two minutes: a fixed-time match on a skipped wall time runs at the jump.
        previous_wall = moment.astimezone(zone).replace(tzinfo=None)
        skipped = (previous_wall + MINUTE * n for n in range(1, (wall - previous_wall) // MINUTE))
        if not every_hour and any(cron.matches(w) for w in skipped):
            ticks.add(following)
        moment = following
    return sorted(tick for tick in ticks if start < tick <= end)


@settings(max_examples=200, deadline=None)
@given(zone_name=st.sampled_from(ZONES), data=st.data())
def test_ticks_are_exactly_the_minutes_the_rules_select(zone_name: str, data: st.DataObject) -> None:
    zone = ZoneInfo(zone_name)
    change = data.draw(st.sampled_from(CHANGES[zone_name]))
    cron = data.draw(crons(change, zone))
    start = change + timedelta(minutes=data.draw(st.integers(-240, 60)))
    end = start + WINDOW
    timetable = timetable_of(cron, zone_name)

    forward = list(itertools.takewhile(lambda tick: tick <= end, timetable.after(start)))
    backward = list(itertools.takewhile(lambda tick: tick > start, timetable.before(end)))

    assert all(a < b for a, b in itertools.pairwise(forward)), "ticks must be strictly increasing"
    assert forward == expected_ticks(cron, zone, start, end)
    assert backward == forward[::-1]


STAR_DAYS = (Field("*", frozenset(range(1, 32)), True), Field("*", frozenset(range(1, 13)), True))
ANY_WEEKDAY = Field("*", frozenset(range(7)), True)


@settings(max_examples=100, deadline=None)
@given(zone_name=st.sampled_from(ZONES[:5]), data=st.data())
def test_fixed_time_expressions_through_a_change_follow_the_rules(zone_name: str, data: st.DataObject) -> None:
    # The same property, every example an expression on the very hours the clocks skip or repeat.
    zone = ZoneInfo(zone_name)
    change = data.draw(st.sampled_from(CHANGES[zone_name]))
    after = change.astimezone(zone)
    hours = data.draw(st.sets(st.sampled_from(sorted({after.hour, (after - timedelta(hours=1)).hour})), min_size=1))
    hour = Field(",".join(map(str, sorted(hours))), frozenset(hours), False)
    cron = Cron(data.draw(field(0, 59)), hour, *STAR_DAYS, ANY_WEEKDAY)
    start = change - timedelta(hours=3)
    end = start + WINDOW

    forward = list(itertools.takewhile(lambda tick: tick <= end, Timetable.of([cron.text], zone_name).after(start)))

    assert forward == expected_ticks(cron, zone, start, end)


# --- anywhere in time: next ticks, windows and catch-up (issue 7) ----------------------------------------

ANY_CRON = st.builds(
    Cron,
    minute=field(0, 59, star_weight=2),
    hour=field(0, 23, star_weight=2),
    dom=field(1, 31, star_weight=4),
    month=field(1, 12, star_weight=4),
    dow=field(0, 6, star_weight=3),
)
#: Seconds since 2000-01-01 to 2040 (not only whole minutes: a run may be planned at any instant).
INSTANTS = st.integers(0, 40 * 365 * 86400).map(lambda s: datetime(2000, 1, 1, tzinfo=UTC) + timedelta(seconds=s))
#: Enumerating more ticks than this in one example would make the test slow; such windows are skipped.
MAX_ENUMERATED = 3000


def timetable_of(cron: Cron, zone_name: str) -> Timetable:
    try:
        return Timetable.of([cron.text], zone_name)
    except CronError:  # "30 2 31 2 *": a day that never occurs is refused, rightly
        assume(False)
        raise


def is_gap_instant(tick: datetime, zone: ZoneInfo) -> bool:
    """The clocks jumped forward at ``tick``: where a fixed-time tick on a skipped wall time runs."""
    return (tick - timedelta(seconds=1)).astimezone(zone).utcoffset() != tick.astimezone(zone).utcoffset()


@settings(max_examples=150, deadline=None)
@given(zone_name=st.sampled_from(ZONES), cron=ANY_CRON, moment=INSTANTS)
def test_next_ticks_come_after_the_moment_in_order_and_each_matches_the_expression(
    zone_name: str, cron: Cron, moment: datetime
) -> None:
    zone = ZoneInfo(zone_name)
    timetable = timetable_of(cron, zone_name)

    ticks = timetable.next_ticks(moment, 5)

    assert ticks, "every accepted expression ticks again"
    assert ticks[0] > moment
    assert all(a < b for a, b in itertools.pairwise(ticks))
    for tick in ticks:
        wall = tick.astimezone(zone)
        assert tick.second == 0 and tick.microsecond == 0
        assert cron.matches(wall.replace(tzinfo=None)) or is_gap_instant(tick, zone), f"{tick} ({wall})"
    if ticks[0] - moment <= timedelta(days=2):  # none was skipped: the rules' minute scan agrees
        # The scan walks whole minutes: from the minute the moment is in (no tick lies between the two).
        assert ticks[:1] == expected_ticks(cron, zone, moment.replace(second=0), ticks[0])


@settings(max_examples=100, deadline=None)
@given(
    zone_name=st.sampled_from(ZONES),
    cron=ANY_CRON,
    start=INSTANTS,
    span=st.integers(0, 2 * 86400),
    limit=st.integers(0, 5),
    cap=st.integers(1, 40),
)
def test_ticks_between_agrees_with_after_and_before(
    zone_name: str, cron: Cron, start: datetime, span: int, limit: int, cap: int
) -> None:
    timetable = timetable_of(cron, zone_name)
    end = start + timedelta(seconds=span)
    inside = list(itertools.islice(itertools.takewhile(lambda t: t <= end, timetable.after(start)), MAX_ENUMERATED))
    assume(len(inside) < MAX_ENUMERATED)

    window = timetable.ticks_between(start, end, limit, cap)

    assert list(window.ticks) == (inside[-limit:] if limit else [])
    assert window.total_is_exact == (len(inside) <= max(cap, limit))
    assert window.total == min(len(inside), max(cap, limit))
    newest = next(timetable.before(end), None)
    if inside:
        assert newest == inside[-1]
    else:
        assert newest is None or newest <= start


def _schedule(cron: str, zone_name: str, limit: int, deadline: int | None) -> AssetSchedule:
    spec: dict[str, object] = {"job": "sales", "cron": [cron], "timezone": zone_name, "catchUpLimit": limit}
    if deadline is not None:
        spec["startingDeadlineSeconds"] = deadline
    resource = parse_resource(
        {
            "apiVersion": "kubeasset.dev/v1alpha1",
            "kind": "AssetSchedule",
            "metadata": {"name": "s", "namespace": "n", "creationTimestamp": "1999-01-01T00:00:00Z"},
            "spec": spec,
        }
    )
    assert isinstance(resource, AssetSchedule)
    return resource


@settings(max_examples=100, deadline=None)
@given(
    zone_name=st.sampled_from(ZONES),
    cron=ANY_CRON,
    now=INSTANTS,
    down=st.one_of(st.integers(0, 3600), st.integers(0, 2 * 86400)),
    limit=st.integers(0, 5),
    deadline=st.one_of(st.none(), st.integers(0, 3 * 86400)),
)
def test_catch_up_never_starts_more_than_the_limit_and_only_the_newest_due_ticks(
    zone_name: str, cron: Cron, now: datetime, down: int, limit: int, deadline: int | None
) -> None:
    timetable = timetable_of(cron, zone_name)
    last = now - timedelta(seconds=down)
    missed = list(itertools.islice(itertools.takewhile(lambda t: t <= now, timetable.after(last)), MAX_ENUMERATED))
    assume(len(missed) < MAX_ENUMERATED)

    due = due_ticks(_schedule(cron.text, zone_name, limit, deadline), last, now, timetable)

    effective = deadline if limit else min(deadline if deadline is not None else ON_TIME_SECONDS, ON_TIME_SECONDS)
    eligible = [tick for tick in missed if effective is None or tick >= now - timedelta(seconds=effective)]
    assert len(due.start) <= max(limit, 1)
    assert list(due.start) == eligible[-max(limit, 1) :] if eligible else due.start == ()
    assert all(a < b for a, b in itertools.pairwise(due.start))
    if due.missed_is_exact:
        assert due.missed == len(missed) - len(due.start)
    else:
        assert len(missed) > MISSED_COUNT_CAP and due.missed == MISSED_COUNT_CAP - len(due.start)
    assert due.next_tick is not None and due.next_tick > now

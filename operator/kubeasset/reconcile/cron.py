"""Cron expressions as AssetSchedules write them: parsed and checked field by field, so that a mistake
is reported with the field and column it is in (a ``Ready=False`` message a person can act on).

The syntax is the standard five fields of Kubernetes CronJob (robfig/cron's standard parser) and Vixie
cron: ``minute hour day-of-month month day-of-week``, each a ``*``, a number, a name (``jan``, ``mon``),
a range ``a-b``, a step ``*/n``, ``a/n`` or ``a-b/n``, or a comma list of those; ``?`` means ``*`` in
the day fields; day-of-week 7 is Sunday. The macros ``@yearly`` (``@annually``), ``@monthly``,
``@weekly``, ``@daily`` (``@midnight``) and ``@hourly`` stand for their five-field forms. When both day
fields are restricted a day matching either runs (``0 0 1 * mon``: the 1st and every Monday), unless one
of them starts with ``*`` (``0 0 */2 * mon``: odd days that are Mondays), as in Vixie cron and CronJob.

Matching is croniter's (:attr:`CronExpression.croniter_form` and :attr:`CronExpression.day_or` are what
it is given); what a tick means in a time zone with daylight saving time is decided in
:mod:`kubeasset.reconcile.ticks`.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from typing import Final

from kubeasset.errors import CronError

#: The five-field form of each macro.
MACROS: Final = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

_MONTHS: Final = {name.lower(): number for number, name in enumerate(calendar.month_abbr) if name}
_WEEKDAYS: Final = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
#: How much of a bad expression an error message quotes.
_SHOWN_CHARS: Final = 100
_ITEM: Final = re.compile(r"^(?P<base>[^/]+)(/(?P<step>.*))?$")


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int]
    question_mark: bool = False


_FIELDS: Final = (
    _Field("minute", 0, 59, {}),
    _Field("hour", 0, 23, {}),
    _Field("day-of-month", 1, 31, {}, question_mark=True),
    _Field("month", 1, 12, _MONTHS),
    _Field("day-of-week", 0, 7, _WEEKDAYS, question_mark=True),
)
_FIELD_NAMES: Final = " ".join(field.name for field in _FIELDS)


@dataclass(frozen=True)
class CronExpression:
    """One validated cron expression.

    Example::

        expression = parse_cron("30 2 * * mon-fri")
        expression.hours == frozenset({2}) and not expression.every_hour
    """

    text: str
    """The expression as written."""
    croniter_form: str
    """The five fields croniter matches: the parsed sets as number lists (``*`` for a full field)."""
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int]
    months: frozenset[int]
    days_of_week: frozenset[int]
    """Sunday is 0 (a written 7 is stored as 0)."""
    day_or: bool
    """Whether a day matching either day field runs (both restricted, neither starting with ``*``)."""

    @property
    def every_hour(self) -> bool:
        """True when the hour field covers all 24 hours (``*``, ``*/1``, ``0-23``): such a schedule follows
        absolute time across daylight-saving changes instead of the fixed-time rule."""
        return len(self.hours) == 24


def parse_cron(text: str) -> CronExpression:
    """Parse and check ``text``; raises :class:`~kubeasset.errors.CronError` naming the field and the
    1-based column of the first mistake.

    Example::

        parse_cron("0 25 * * *")  # CronError: ... hour field, column 3: 25 is out of range 0-23
    """
    stripped = text.strip()
    offset = len(text) - len(text.lstrip())
    if stripped.startswith("@"):
        macro = MACROS.get(stripped.lower())
        if macro is None:
            known = ", ".join(MACROS)
            raise _error(text, None, offset + 1, f"unknown macro {stripped!r}; the macros are {known}")
        return _parse_fields(text, [(0, part) for part in macro.split()], from_macro=True)
    tokens = [(match.start(), match.group()) for match in re.finditer(r"\S+", text)]
    if len(tokens) != len(_FIELDS):
        column = tokens[len(_FIELDS)][0] + 1 if len(tokens) > len(_FIELDS) else len(text.rstrip()) + 1
        raise _error(
            text,
            None,
            column,
            f"expected 5 fields ({_FIELD_NAMES}) or a macro such as @daily, found {len(tokens)}",
        )
    return _parse_fields(text, tokens, from_macro=False)


def _parse_fields(text: str, tokens: list[tuple[int, str]], *, from_macro: bool) -> CronExpression:
    values: list[frozenset[int]] = []
    for field, (start, token) in zip(_FIELDS, tokens, strict=True):
        values.append(_parse_field(text, field, token, 0 if from_macro else start))
    minutes, hours, days_of_month, months, days_of_week = values
    dom_token, dow_token = tokens[2][1], tokens[4][1]
    dom_star = dom_token.startswith(("*", "?"))
    dow_star = dow_token.startswith(("*", "?"))
    if dow_star and not _any_day_exists(days_of_month, months):
        raise _error(
            text,
            "day-of-month",
            (0 if from_macro else tokens[2][0]) + 1,
            f"day-of-month {dom_token} never occurs in month {tokens[3][1]}: the expression never runs",
        )
    days_of_week = frozenset(day % 7 for day in days_of_week)
    day_or = not (dom_star or dow_star)
    # croniter is given the parsed sets, not the text: it then matches exactly what was validated.
    listed = [
        _listed(field, selected)
        for field, selected in zip(_FIELDS, (minutes, hours, days_of_month, months, days_of_week), strict=True)
    ]
    if day_or and "*" in (listed[2], listed[4]):
        # `1 0-6`: either day field may match and one matches every day, so every day runs; croniter would
        # read a listed-as-"*" field as unrestricted and require the other one.
        listed[2] = listed[4] = "*"
    croniter_form = " ".join(listed)
    return CronExpression(
        text=text,
        croniter_form=croniter_form,
        minutes=minutes,
        hours=hours,
        days_of_month=days_of_month,
        months=months,
        days_of_week=days_of_week,
        day_or=day_or,
    )


def _parse_field(text: str, field: _Field, token: str, start: int) -> frozenset[int]:
    selected: set[int] = set()
    position = start
    for item in token.split(","):
        column = position + 1
        position += len(item) + 1
        if not item:
            raise _error(text, field.name, column, "empty list item (two commas, or a comma at an end)")
        match = _ITEM.match(item)
        if match is None:
            raise _error(text, field.name, column, f"{item!r} is not a value, range or step")
        base, step_text = match.group("base"), match.group("step")
        step = 1
        if step_text is not None:
            step_column = column + len(base) + 1
            if not _is_number(step_text) or int(step_text) == 0:
                raise _error(text, field.name, step_column, f"step {step_text!r} must be a positive whole number")
            step = int(step_text)
        if base in ("*", "?"):
            if base == "?" and not field.question_mark:
                raise _error(text, field.name, column, "'?' is allowed only in the day-of-month and day-of-week fields")
            low, high = field.low, field.high
        elif "-" in base:
            first, _, last = base.partition("-")
            low = _value(text, field, first, column)
            high = _value(text, field, last, column + len(first) + 1)
            if low > high:
                raise _error(text, field.name, column, f"range {base!r} runs backwards: its start is after its end")
        else:
            low = _value(text, field, base, column)
            # `a/n` means from a to the field's end in steps of n (CronJob and croniter agree).
            high = field.high if step_text is not None else low
        selected.update(range(low, high + 1, step))
    if field.name == "day-of-week" and 7 in selected:
        selected.discard(7)
        selected.add(0)
    return frozenset(selected)


def _listed(field: _Field, selected: frozenset[int]) -> str:
    high = 6 if field.name == "day-of-week" else field.high
    if selected == frozenset(range(field.low, high + 1)):
        return "*"
    return ",".join(str(number) for number in sorted(selected))


def _value(text: str, field: _Field, word: str, column: int) -> int:
    if _is_number(word):
        number = int(word)
    elif word.lower() in field.names:
        number = field.names[word.lower()]
    else:
        expected = f"a number {field.low}-{field.high}"
        if field.names:
            expected += f" or a name ({', '.join(list(field.names)[:3])}, ...)"
        raise _error(text, field.name, column, f"{word!r} is not {expected}")
    if not field.low <= number <= field.high:
        raise _error(text, field.name, column, f"{number} is out of range {field.low}-{field.high}")
    return number


def _is_number(word: str) -> bool:
    # ASCII only: str.isdigit() is also true of '０' (which int() reads as 0) and of '²' (which it refuses).
    return word.isascii() and word.isdigit()


def _any_day_exists(days_of_month: frozenset[int], months: frozenset[int]) -> bool:
    # February has a 29th in leap years: the expression then runs every four years, which is allowed.
    longest = {month: calendar.monthrange(2024, month)[1] for month in months}
    return any(day <= longest[month] for day in days_of_month for month in months)


def _error(text: str, field: str | None, column: int, problem: str) -> CronError:
    where = f"{field} field, column {column}" if field else f"column {column}"
    # A long expression is shown by its start: the column says where the mistake is.
    shown = repr(text) if len(text) <= _SHOWN_CHARS else repr(text[:_SHOWN_CHARS]) + "…"
    if len(problem) > _SHOWN_CHARS * 2:  # it quotes a (long) part of the expression
        problem = problem[: _SHOWN_CHARS * 2] + "…"
    return CronError(
        f"invalid cron expression {shown}: {where}: {problem}", expression=text, field=field, column=column
    )

"""Dates and times in the notations German forms use, read strictly.

Naive times are Europe/Berlin; a datetime where a date is wanted is taken as the Berlin day.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from typing import Any, Final
from zoneinfo import ZoneInfo

from gateway.mapping.run.common import ValueProblem, describe_kind

BERLIN: Final = ZoneInfo("Europe/Berlin")
ISO: Final = "iso"
DEFAULT_DATE_FORMATS: Final = ("%Y-%m-%d", "%d.%m.%Y", "%d%m%Y", ISO)
DEFAULT_DATETIME_FORMATS: Final = (ISO,)
# strptime accepts "1112026" for %d%m%Y and silently picks one reading; these fixed-width regexes
# refuse such ambiguous input and are also several times faster than strptime.
_DIRECTIVES: Final = {
    "d": ("day", 2),
    "m": ("month", 2),
    "Y": ("year", 4),
    "H": ("hour", 2),
    "M": ("minute", 2),
    "S": ("second", 2),
}
_DIRECTIVE_RE: Final = re.compile(r"%(.)")

Parser = Callable[[str], dt.date | dt.datetime | None]


def compile_format(fmt: str) -> Parser:
    """A parser for one date format: ``iso``, or a strptime-style format."""
    if fmt == ISO:
        return _parse_iso
    if not any(y in fmt for y in ("%Y", "%y", "%G")):
        # Without a year, strptime silently answers 1900.
        raise ValueError("a date format needs a year (%Y)")
    pattern, pos, names = [], 0, []
    for match in _DIRECTIVE_RE.finditer(fmt):
        if match.group(1) not in _DIRECTIVES:
            return _strptime_parser(fmt)
        pattern.append(re.escape(fmt[pos : match.start()]))
        name, width = _DIRECTIVES[match.group(1)]
        glued = (match.start() == pos and pos > 0) or fmt[match.end() : match.end() + 1] == "%"
        pattern.append(rf"(\d{{{width}}})" if glued or width == 4 else rf"(\d{{1,{width}}})")
        names.append(name)
        pos = match.end()
    pattern.append(re.escape(fmt[pos:]))
    regex = re.compile("".join(pattern))
    has_time = "hour" in names

    def parse(text: str) -> dt.date | dt.datetime | None:
        found = regex.fullmatch(text)
        if found is None:
            return None
        parts = dict(zip(names, map(int, found.groups()), strict=True))
        try:
            day = dt.date(parts["year"], parts.get("month", 1), parts.get("day", 1))
            if has_time:
                return dt.datetime.combine(day, dt.time(parts["hour"], parts.get("minute", 0), parts.get("second", 0)))
            return day
        except ValueError:
            return None

    return parse


def _strptime_parser(fmt: str) -> Parser:
    def parse(text: str) -> dt.date | dt.datetime | None:
        try:
            return dt.datetime.strptime(text, fmt)
        except ValueError:
            return None

    return parse


def _parse_iso(text: str) -> dt.date | dt.datetime | None:
    try:
        return dt.date.fromisoformat(text) if "T" not in text and " " not in text else dt.datetime.fromisoformat(text)
    except ValueError:
        return None


def to_date(raw: Any, parsers: Sequence[Parser]) -> dt.date:
    if isinstance(raw, dt.datetime):
        return _berlin(raw).date()
    if isinstance(raw, dt.date):
        return raw
    parsed = _first_parse(raw, parsers, "date")
    if parsed is None:
        raise ValueProblem("not a date in an accepted notation")
    # A browser's local midnight sent as UTC still means the local day.
    return _berlin(parsed).date() if isinstance(parsed, dt.datetime) else parsed


def to_datetime(raw: Any, parsers: Sequence[Parser]) -> dt.datetime:
    if isinstance(raw, dt.datetime):
        return _with_zone(raw)
    parsed = _first_parse(raw, parsers, "date and time", need_time=True)
    if not isinstance(parsed, dt.datetime):
        raise ValueProblem("not a date and time in an accepted notation")
    return _with_zone(parsed)


def _first_parse(
    raw: Any, parsers: Sequence[Parser], what: str, need_time: bool = False
) -> dt.date | dt.datetime | None:
    if not isinstance(raw, str):
        raise ValueProblem(f"expected a {what} as text, got {describe_kind(raw)}")
    for parser in parsers:
        parsed = parser(raw)
        if parsed is not None and (isinstance(parsed, dt.datetime) or not need_time):
            return parsed
    return None


def _with_zone(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=BERLIN) if value.tzinfo is None else value


def _berlin(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is None else value.astimezone(BERLIN)

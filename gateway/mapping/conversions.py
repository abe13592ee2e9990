"""Turning raw source values into typed field values.

Raw values come from JSON (str, int, Decimal, bool), from XPath (str, float, bool) or from
expressions (any of those plus date/datetime). Every failure raises :class:`ValueProblem`
with a message that describes the problem but never repeats the value (personal data).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Final
from zoneinfo import ZoneInfo

from gateway.mapping.common import ValueProblem

BERLIN: Final = ZoneInfo("Europe/Berlin")
ISO: Final = "iso"
DEFAULT_DATE_FORMATS: Final = ("%Y-%m-%d", "%d.%m.%Y", "%d%m%Y", ISO)
DEFAULT_DATETIME_FORMATS: Final = (ISO,)
VALUE_TYPES: Final = frozenset({"string", "text", "date", "datetime", "boolean", "integer", "decimal", "code"})

_TRUE: Final = frozenset({"true", "ja", "1", "j", "yes"})
_FALSE: Final = frozenset({"false", "nein", "0", "n", "no"})
_NUMBER: Final = re.compile(r"[+-]?\d+(?:\.\d+)?")
# strptime accepts "1112026" for %d%m%Y and silently picks one reading; these fixed-width regexes
# refuse such ambiguous input and are also several times faster than strptime.
_DIRECTIVES: Final = {"d": ("day", 2), "m": ("month", 2), "Y": ("year", 4), "H": ("hour", 2),
                      "M": ("minute", 2), "S": ("second", 2)}
_DIRECTIVE_RE: Final = re.compile(r"%(.)")

Parser = Callable[[str], dt.date | dt.datetime | None]


def compile_format(fmt: str) -> Parser:
    """A parser for one date format: ``iso``, or a strptime-style format."""
    if fmt == ISO:
        return _parse_iso
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
    if not names:
        raise ValueError(f"date format {fmt!r} has no directive")
    regex = re.compile("".join(pattern))
    has_time = "hour" in names

    def parse(text: str) -> dt.date | dt.datetime | None:
        found = regex.fullmatch(text)
        if found is None:
            return None
        parts = dict(zip(names, map(int, found.groups()), strict=True))
        try:
            if has_time:
                return dt.datetime(parts.get("year", 1900), parts.get("month", 1), parts.get("day", 1),
                                   parts["hour"], parts.get("minute", 0), parts.get("second", 0))
            return dt.date(parts.get("year", 1900), parts.get("month", 1), parts.get("day", 1))
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
        return dt.date.fromisoformat(text) if "T" not in text and " " not in text else \
            dt.datetime.fromisoformat(text)
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
        raise ValueProblem(f"expected a {what} as text, got {_kind(raw)}")
    for parser in parsers:
        parsed = parser(raw)
        if parsed is not None and (isinstance(parsed, dt.datetime) or not need_time):
            return parsed
    return None


def _with_zone(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=BERLIN) if value.tzinfo is None else value


def _berlin(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is None else value.astimezone(BERLIN)


def to_boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str):
        word = raw.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise ValueProblem(f"expected a yes/no value, got {_kind(raw)}")


def to_decimal(raw: Any) -> Decimal:
    if isinstance(raw, bool):
        raise ValueProblem("expected a number, got a boolean")
    if isinstance(raw, Decimal) and raw.is_finite():
        return raw
    if isinstance(raw, int):
        return Decimal(raw)
    if isinstance(raw, float) and raw == raw and abs(raw) != float("inf"):
        return Decimal(repr(raw))
    if isinstance(raw, str):
        text = raw.strip()
        if "," in text and "." in text:
            raise ValueProblem("ambiguous number: both ',' and '.' present")
        text = text.replace(",", ".")
        if _NUMBER.fullmatch(text):
            try:
                return Decimal(text)
            except InvalidOperation:  # pragma: no cover - the regex admits only valid literals
                pass
    raise ValueProblem(f"expected a number, got {_kind(raw)}")


def to_integer(raw: Any) -> int:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    number = to_decimal(raw)
    if number != number.to_integral_value():
        raise ValueProblem("expected a whole number")
    return int(number)


def to_text(raw: Any) -> str:
    if isinstance(raw, str):
        return raw
    if isinstance(raw, bool):
        raise ValueProblem("expected text, got a boolean")
    if isinstance(raw, int | Decimal | dt.date):
        return raw.isoformat() if isinstance(raw, dt.date) else str(raw)
    if isinstance(raw, float):
        return str(int(raw)) if raw.is_integer() else repr(raw)
    raise ValueProblem(f"expected text, got {_kind(raw)}")


def to_code(raw: Any) -> str:
    """A code as text; JSON numbers are accepted because portals often send ``1`` for ``"1"``."""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, int) and not isinstance(raw, bool):
        return str(raw)
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    if isinstance(raw, Decimal) and raw == raw.to_integral_value():
        return str(int(raw))
    raise ValueProblem(f"expected a code, got {_kind(raw)}")


def convert(value_type: str, raw: Any, parsers: Sequence[Parser]) -> Any:
    """Convert ``raw`` to ``value_type``; code lists are looked up by the caller."""
    if value_type in ("string", "text"):
        return to_text(raw)
    if value_type == "code":
        return to_code(raw)
    if value_type == "date":
        return to_date(raw, parsers)
    if value_type == "datetime":
        return to_datetime(raw, parsers)
    if value_type == "boolean":
        return to_boolean(raw)
    if value_type == "integer":
        return to_integer(raw)
    if value_type == "decimal":
        return to_decimal(raw)
    raise ValueProblem(f"unknown type {value_type!r}")


def _kind(raw: Any) -> str:
    """Describe a value by its kind only, never by its content."""
    if isinstance(raw, bool):
        return "a boolean"
    if isinstance(raw, int | float | Decimal):
        return "a number"
    if isinstance(raw, str):
        return "text that does not fit"
    if isinstance(raw, dict):
        return "an object"
    if isinstance(raw, list):
        return "a list"
    if isinstance(raw, dt.date):
        return "a date"
    return "an unsupported value"

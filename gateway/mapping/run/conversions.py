"""Turning raw source values into typed field values.

Raw values come from JSON (str, int, Decimal, bool), from XPath (str, float, bool) or from
expressions (any of those plus date/datetime). Every failure raises :class:`ValueProblem`
with a message that describes the problem but never repeats the value (personal data).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from gateway.mapping.run.common import ValueProblem, describe_kind
from gateway.mapping.run.dates import Parser, to_date, to_datetime

VALUE_TYPES: Final = frozenset({"string", "text", "date", "datetime", "boolean", "integer", "decimal", "code"})

_TRUE: Final = frozenset({"true", "ja", "1", "j", "yes"})
_FALSE: Final = frozenset({"false", "nein", "0", "n", "no"})
_NUMBER: Final = re.compile(r"[+-]?\d+(?:\.\d+)?")


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
    raise ValueProblem(f"expected a yes/no value, got {describe_kind(raw)}")


def to_decimal(raw: Any) -> Decimal:
    if isinstance(raw, bool):
        raise ValueProblem("expected a number, got a boolean")
    if isinstance(raw, Decimal) and raw.is_finite():
        return raw
    if isinstance(raw, int):
        return Decimal(raw)
    if isinstance(raw, float) and raw == raw and abs(raw) != float("inf"):
        return Decimal(repr(raw))
    if not isinstance(raw, str):
        raise ValueProblem(f"expected a number, got {describe_kind(raw)}")
    text = raw.strip()
    if "," in text and "." in text:
        raise ValueProblem("ambiguous number: both ',' and '.' present")
    text = text.replace(",", ".")
    if _NUMBER.fullmatch(text):
        try:
            return Decimal(text)
        except InvalidOperation:  # pragma: no cover - the regex admits only valid literals
            pass
    raise ValueProblem(f"expected a number, got {describe_kind(raw)}")


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
    raise ValueProblem(f"expected text, got {describe_kind(raw)}")


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
    raise ValueProblem(f"expected a code, got {describe_kind(raw)}")


_BY_TYPE: Final[dict[str, Any]] = {
    "string": to_text, "text": to_text, "code": to_code, "boolean": to_boolean, "integer": to_integer,
    "decimal": to_decimal,
}


def convert(value_type: str, raw: Any, parsers: Sequence[Parser]) -> Any:
    """Convert ``raw`` to ``value_type``; code lists are looked up by the caller."""
    simple = _BY_TYPE.get(value_type)
    if simple is not None:
        return simple(raw)
    if value_type == "date":
        return to_date(raw, parsers)
    if value_type == "datetime":
        return to_datetime(raw, parsers)
    raise ValueProblem(f"unknown type {value_type!r}")

"""Small shared pieces of the mappings engine: the "no value" marker and the value problem."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Final


class _Missing:
    """Marks a value the source document does not have (absent, null or blank).

    A sentinel rather than ``None`` because ``None`` is a legitimate result of an expression.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()


class ValueProblem(Exception):
    """A source value cannot be used. The message never contains the value itself, because
    values are personal data; the engine adds the field key and source path."""


def describe_kind(raw: Any) -> str:
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

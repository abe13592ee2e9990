"""Operators and functions of the expression language, with its None rules.

``None`` (a missing value) propagates through arithmetic and makes ordering comparisons false,
so a warning rule over an optional field neither crashes nor fires by accident. Arithmetic
other than ``+`` accepts numbers only: ``"x" * big_number`` from a hostile payload would
otherwise allocate without bound, and ``%`` on text would be string formatting.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

from gateway.mapping.run.expressions import ExpressionError


def _number(value: Any) -> int | Decimal:
    if isinstance(value, int | Decimal):
        return value
    raise ExpressionError(f"arithmetic needs numbers, got {type(value).__name__}")


def add(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if isinstance(a, str) and isinstance(b, str):
        return a + b
    if isinstance(a, list) and isinstance(b, list):
        return a + b
    return _number(a) + _number(b)


def sub(a: Any, b: Any) -> Any:
    return None if a is None or b is None else _number(a) - _number(b)


def mul(a: Any, b: Any) -> Any:
    return None if a is None or b is None else _number(a) * _number(b)


def div(a: Any, b: Any) -> Any:
    # Decimal keeps money exact; int / int would otherwise turn into a binary float.
    return None if a is None or b is None else Decimal(_number(a)) / Decimal(_number(b))


def floordiv(a: Any, b: Any) -> Any:
    return None if a is None or b is None else _number(a) // _number(b)


def mod(a: Any, b: Any) -> Any:
    return None if a is None or b is None else _number(a) % _number(b)


def neg(a: Any) -> Any:
    return None if a is None else -_number(a)


def pos(a: Any) -> Any:
    return None if a is None else +_number(a)


def _ordered(compare: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def check(a: Any, b: Any) -> bool:
        return a is not None and b is not None and compare(a, b)

    return check


def contains(item: Any, container: Any) -> bool:
    return container is not None and item in container


COMPARE: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "Eq": lambda a, b: bool(a == b),
    "NotEq": lambda a, b: bool(a != b),
    "Lt": _ordered(lambda a, b: bool(a < b)),
    "LtE": _ordered(lambda a, b: bool(a <= b)),
    "Gt": _ordered(lambda a, b: bool(a > b)),
    "GtE": _ordered(lambda a, b: bool(a >= b)),
    "In": contains,
    "NotIn": lambda a, b: not contains(a, b),
}


def member(base: Any, name: str) -> Any:
    """``a.b``: member of a group item; over a repeated group, the list of members."""
    if base is None:
        return None
    if isinstance(base, dict):
        return base.get(name)
    if isinstance(base, list):
        out: list[Any] = []
        for item in base:
            value = member(item, name)
            out.extend(value) if isinstance(value, list) else out.append(value)
        return out
    raise ExpressionError("member access on a value that is not a group")


def _values(args: tuple[Any, ...]) -> list[Any]:
    items = args[0] if len(args) == 1 and isinstance(args[0], list) else list(args)
    return [v for v in items if v is not None]


def _len(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, str | list | dict):
        return len(value)
    raise ExpressionError("len() needs text or a list")


def _sum(values: Any) -> Any:
    if values is None:
        return 0
    if not isinstance(values, list):
        raise ExpressionError("sum() needs a list")
    total: int | Decimal = 0
    for value in values:
        if value is not None:
            total += _number(value)
    return total


def _min(*args: Any) -> Any:
    values = _values(args)
    return min(values) if values else None


def _max(*args: Any) -> Any:
    values = _values(args)
    return max(values) if values else None


def _round(value: Any, digits: Any = 0) -> Any:
    if value is None:
        return None
    if not isinstance(digits, int) or isinstance(digits, bool):
        raise ExpressionError("round() needs a whole number of digits")
    # Commercial rounding (half up), as fees and refunds are rounded in German administration.
    return Decimal(_number(value)).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)


def _abs(value: Any) -> Any:
    return None if value is None else abs(_number(value))


def _concat(*args: Any) -> str:
    return "".join(v.isoformat() if isinstance(v, dt.date) else str(v) for v in args if v is not None)


def _text(fn: Callable[[str], str]) -> Callable[[Any], Any]:
    def apply(value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise ExpressionError("text function applied to a value that is not text")
        return fn(value)

    return apply


def _coalesce(*args: Any) -> Any:
    return next((v for v in args if v is not None and v != ""), None)


def _day(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    raise ExpressionError("date function applied to a value that is not a date")


def _years_between(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    start, end = _day(a), _day(b)
    return end.year - start.year - ((end.month, end.day) < (start.month, start.day))


def _days_between(a: Any, b: Any) -> Any:
    return None if a is None or b is None else (_day(b) - _day(a)).days


# name -> (function, minimum arity, maximum arity or None for "any")
FUNCTIONS: Final[dict[str, tuple[Callable[..., Any], int, int | None]]] = {
    "len": (_len, 1, 1),
    "sum": (_sum, 1, 1),
    "min": (_min, 1, None),
    "max": (_max, 1, None),
    "round": (_round, 1, 2),
    "abs": (_abs, 1, 1),
    "concat": (_concat, 1, None),
    "upper": (_text(str.upper), 1, 1),
    "lower": (_text(str.lower), 1, 1),
    "strip": (_text(str.strip), 1, 1),
    "coalesce": (_coalesce, 1, None),
    "years_between": (_years_between, 2, 2),
    "days_between": (_days_between, 2, 2),
}

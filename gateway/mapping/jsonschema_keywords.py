"""The assertion keywords of the JSON Schema subset, one builder per keyword.

A builder gets the keyword's argument, the whole schema object it sits in, its location in the
schema (for load errors) and ``sub`` to compile subschemas; it returns a check.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final


class SchemaError(ValueError):
    """The schema itself is wrong or uses an unsupported keyword."""


@dataclass(frozen=True)
class Violation:
    location: str
    message: str


Check = Callable[[Any, str, list[Violation]], None]
Sub = Callable[[Any, str], Check]
Builder = Callable[[Any, dict[str, Any], str, Sub], Check]

TYPES: Final[dict[str, Callable[[Any], bool]]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, int | Decimal | float) and not isinstance(v, bool),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, Decimal) and v == v.to_integral_value())
    ),
}


def escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def same(a: Any, b: Any) -> bool:
    """JSON equality: ``true`` is not ``1``, although Python says so."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    numbers = isinstance(a, int | Decimal) and isinstance(b, int | Decimal)
    return (type(a) is type(b) or numbers) and bool(a == b)


def _type(names: Any, _schema: dict[str, Any], at: str, _sub: Sub) -> Check:
    wanted = [names] if isinstance(names, str) else names
    if not isinstance(wanted, list) or not all(n in TYPES for n in wanted):
        raise SchemaError(f"invalid type at {at}")
    tests = [TYPES[n] for n in wanted]
    message = "expected type " + " or ".join(wanted)

    def check(value: Any, loc: str, out: list[Violation]) -> None:
        if not any(test(value) for test in tests):
            out.append(Violation(loc, message))

    return check


def _membership(allowed: list[Any], message: str) -> Check:
    def check(value: Any, loc: str, out: list[Violation]) -> None:
        if not any(same(value, a) for a in allowed):
            out.append(Violation(loc, message))

    return check


def _enum(allowed: Any, _schema: dict[str, Any], at: str, _sub: Sub) -> Check:
    if not isinstance(allowed, list) or not allowed:
        raise SchemaError(f"enum must be a non-empty list at {at}")
    return _membership(allowed, "value is not one of the allowed values")


def _const(constant: Any, _schema: dict[str, Any], _at: str, _sub: Sub) -> Check:
    return _membership([constant], "value is not the required constant")


def _properties(properties: Any, _schema: dict[str, Any], at: str, sub: Sub) -> Check:
    if not isinstance(properties, dict):
        raise SchemaError(f"properties must be an object at {at}")
    subs = {k: sub(v, f"{at}/{escape(k)}") for k, v in properties.items()}

    def check(value: Any, loc: str, out: list[Violation]) -> None:
        if isinstance(value, dict):
            for key, check_one in subs.items():
                if key in value:
                    check_one(value[key], f"{loc}/{escape(key)}", out)

    return check


def _required(names: Any, _schema: dict[str, Any], at: str, _sub: Sub) -> Check:
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise SchemaError(f"required must be a list of names at {at}")

    def check(value: Any, loc: str, out: list[Violation]) -> None:
        if isinstance(value, dict):
            out.extend(Violation(loc, f"missing required property {n!r}") for n in names if n not in value)

    return check


def _additional(extra: Any, schema: dict[str, Any], at: str, sub: Sub) -> Check:
    known = set(schema.get("properties", {}))
    check_extra = sub(extra, at)

    def check(value: Any, loc: str, out: list[Violation]) -> None:
        if not isinstance(value, dict):
            return
        for key in value:
            if key in known:
                continue
            if extra is False:
                out.append(Violation(f"{loc}/{escape(key)}", f"unknown property {key[:80]!r}"))
            else:
                check_extra(value[key], f"{loc}/{escape(key)}", out)

    return check


def _items(items: Any, _schema: dict[str, Any], at: str, sub: Sub) -> Check:
    check_item = sub(items, at)

    def check(value: Any, loc: str, out: list[Violation]) -> None:
        if isinstance(value, list):
            for index, item in enumerate(value):
                check_item(item, f"{loc}/{index}", out)

    return check


def _limit(applies: str, measure: Callable[[Any], Any], fails: Callable[[Any, Any], bool], message: str) -> Builder:
    def build(bound: Any, _schema: dict[str, Any], at: str, _sub: Sub) -> Check:
        if isinstance(bound, bool) or not isinstance(bound, int | Decimal | float):
            raise SchemaError(f"limit must be a number at {at}")
        text = message.format(bound)

        def check(value: Any, loc: str, out: list[Violation]) -> None:
            if TYPES[applies](value) and fails(measure(value), bound):
                out.append(Violation(loc, text))

        return check

    return build


def _pattern(pattern: Any, _schema: dict[str, Any], at: str, _sub: Sub) -> Check:
    try:
        regex = re.compile(pattern)
    except (re.error, TypeError):
        raise SchemaError(f"invalid pattern at {at}") from None

    def check(value: Any, loc: str, out: list[Violation]) -> None:
        if isinstance(value, str) and regex.search(value) is None:
            out.append(Violation(loc, "text does not match the required pattern"))

    return check


def _combinator(accept: Callable[[int, int], bool], message: str | None) -> Builder:
    """allOf (message None: report the members' own violations), anyOf, oneOf."""

    def build(subschemas: Any, _schema: dict[str, Any], at: str, sub: Sub) -> Check:
        if not isinstance(subschemas, list) or not subschemas:
            raise SchemaError(f"expected a non-empty list of schemas at {at}")
        checks = [sub(s, f"{at}/{i}") for i, s in enumerate(subschemas)]

        def check(value: Any, loc: str, out: list[Violation]) -> None:
            found: list[list[Violation]] = []
            for check_one in checks:
                found.append([])
                check_one(value, loc, found[-1])
            matches = sum(not f for f in found)
            if message is None:
                out.extend(v for f in found for v in f)
            elif not accept(matches, len(checks)):
                out.append(Violation(loc, message))

        return check

    return build


def _identity(value: Any) -> Any:
    return value


KEYWORDS: Final[dict[str, Builder]] = {
    "type": _type,
    "enum": _enum,
    "const": _const,
    "properties": _properties,
    "required": _required,
    "additionalProperties": _additional,
    "items": _items,
    "minLength": _limit("string", len, lambda m, b: m < b, "text shorter than {} characters"),
    "maxLength": _limit("string", len, lambda m, b: m > b, "text longer than {} characters"),
    "minItems": _limit("array", len, lambda m, b: m < b, "fewer than {} entries"),
    "maxItems": _limit("array", len, lambda m, b: m > b, "more than {} entries"),
    "minimum": _limit("number", _identity, lambda m, b: m < b, "number below {}"),
    "maximum": _limit("number", _identity, lambda m, b: m > b, "number above {}"),
    "exclusiveMinimum": _limit("number", _identity, lambda m, b: m <= b, "number not above {}"),
    "exclusiveMaximum": _limit("number", _identity, lambda m, b: m >= b, "number not below {}"),
    "pattern": _pattern,
    "allOf": _combinator(lambda _m, _n: True, None),
    "anyOf": _combinator(lambda m, _n: m >= 1, "value matches none of the allowed alternatives"),
    "oneOf": _combinator(lambda m, _n: m == 1, "value must match exactly one of the alternatives"),
}

"""A small, strict validator for the JSON Schema (draft 2020-12) keywords our schemas use.

Why not the ``jsonschema`` package: it is not a dependency of this project. To stay honest,
any keyword this module does not implement is refused when the schema is loaded, so a schema
can never be silently weaker than it reads. Messages name the location (a JSON Pointer) and
the rule, never the offending value.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

ANNOTATIONS: Final = frozenset({"$schema", "$id", "$comment", "title", "description", "default", "examples",
                                "deprecated", "readOnly", "writeOnly", "format", "$defs"})
_TYPES: Final[dict[str, Callable[[Any], bool]]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, int | Decimal | float) and not isinstance(v, bool),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool))
    or (isinstance(v, Decimal) and v == v.to_integral_value()),
}


class SchemaError(ValueError):
    """The schema itself is wrong or uses an unsupported keyword."""


@dataclass(frozen=True)
class Violation:
    location: str
    message: str


Check = Callable[[Any, str, list[Violation]], None]


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _same(a: Any, b: Any) -> bool:
    """JSON equality: ``true`` is not ``1``, although Python says so."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    numbers = isinstance(a, int | Decimal) and isinstance(b, int | Decimal)
    return (type(a) is type(b) or numbers) and bool(a == b)


class _Node:
    __slots__ = ("checks",)

    def __init__(self) -> None:
        self.checks: list[Check] = []

    def __call__(self, value: Any, location: str, out: list[Violation]) -> None:
        for check in self.checks:
            check(value, location, out)


class JsonSchema:
    """A compiled schema; ``validate`` returns every violation, in document order."""

    def __init__(self, schema: Any) -> None:
        self._root_schema = schema
        self._refs: dict[str, _Node] = {}
        self._root = self._compile(schema, "")

    def validate(self, document: Any) -> list[Violation]:
        out: list[Violation] = []
        self._root(document, "", out)
        return out

    def _compile(self, schema: Any, at: str, node: _Node | None = None) -> _Node:
        node = node or _Node()
        if schema is True:
            return node
        if schema is False:
            node.checks.append(lambda _v, loc, out: out.append(Violation(loc, "no value is allowed here")))
            return node
        if not isinstance(schema, dict):
            raise SchemaError(f"schema at {at or '/'} must be an object or a boolean")
        for keyword, argument in schema.items():
            if keyword in ANNOTATIONS:
                continue
            build = getattr(self, "_kw_" + keyword.lstrip("$"), None)
            if build is None:
                raise SchemaError(f"unsupported keyword {keyword!r} at {at or '/'}")
            node.checks.append(build(argument, schema, f"{at}/{_escape(keyword)}"))
        for name, sub in schema.get("$defs", {}).items():
            self._compile(sub, f"{at}/$defs/{_escape(name)}")  # unused definitions must be valid too
        return node

    def _kw_ref(self, ref: Any, _schema: Any, at: str) -> Check:
        if not isinstance(ref, str) or not (ref == "#" or ref.startswith("#/$defs/")):
            raise SchemaError(f"only local references '#/$defs/...' are supported at {at}")
        if ref not in self._refs:
            target: Any = self._root_schema
            for raw in ref[2:].split("/") if ref != "#" else []:
                part = raw.replace("~1", "/").replace("~0", "~")
                if not isinstance(target, dict) or part not in target:
                    raise SchemaError(f"unresolvable reference {ref!r} at {at}")
                target = target[part]
            self._refs[ref] = node = _Node()  # registered first, so recursive schemas terminate
            self._compile(target, ref[1:], node)
        return self._refs[ref]

    def _kw_type(self, names: Any, _schema: Any, at: str) -> Check:
        wanted = [names] if isinstance(names, str) else names
        if not isinstance(wanted, list) or not all(n in _TYPES for n in wanted):
            raise SchemaError(f"invalid type at {at}")
        tests = [_TYPES[n] for n in wanted]
        message = "expected type " + " or ".join(wanted)

        def check(value: Any, loc: str, out: list[Violation]) -> None:
            if not any(test(value) for test in tests):
                out.append(Violation(loc, message))

        return check

    def _kw_enum(self, allowed: Any, _schema: Any, at: str) -> Check:
        if not isinstance(allowed, list) or not allowed:
            raise SchemaError(f"enum must be a non-empty list at {at}")
        return self._membership(allowed, "value is not one of the allowed values")

    def _kw_const(self, constant: Any, _schema: Any, _at: str) -> Check:
        return self._membership([constant], "value is not the required constant")

    @staticmethod
    def _membership(allowed: list[Any], message: str) -> Check:
        def check(value: Any, loc: str, out: list[Violation]) -> None:
            if not any(_same(value, a) for a in allowed):
                out.append(Violation(loc, message))

        return check

    def _kw_properties(self, properties: Any, _schema: Any, at: str) -> Check:
        if not isinstance(properties, dict):
            raise SchemaError(f"properties must be an object at {at}")
        subs = {k: self._compile(v, f"{at}/{_escape(k)}") for k, v in properties.items()}

        def check(value: Any, loc: str, out: list[Violation]) -> None:
            if isinstance(value, dict):
                for key, sub in subs.items():
                    if key in value:
                        sub(value[key], f"{loc}/{_escape(key)}", out)

        return check

    def _kw_required(self, names: Any, _schema: Any, at: str) -> Check:
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise SchemaError(f"required must be a list of names at {at}")

        def check(value: Any, loc: str, out: list[Violation]) -> None:
            if isinstance(value, dict):
                out.extend(Violation(loc, f"missing required property {n!r}") for n in names if n not in value)

        return check

    def _kw_additionalProperties(self, extra: Any, schema: Any, at: str) -> Check:  # noqa: N802
        known = set(schema.get("properties", {}))
        sub = self._compile(extra, at)

        def check(value: Any, loc: str, out: list[Violation]) -> None:
            if isinstance(value, dict):
                for key in value:
                    if key not in known:
                        if extra is False:
                            out.append(Violation(f"{loc}/{_escape(key)}", f"unknown property {key[:80]!r}"))
                        else:
                            sub(value[key], f"{loc}/{_escape(key)}", out)

        return check

    def _kw_items(self, items: Any, _schema: Any, at: str) -> Check:
        sub = self._compile(items, at)

        def check(value: Any, loc: str, out: list[Violation]) -> None:
            if isinstance(value, list):
                for index, item in enumerate(value):
                    sub(item, f"{loc}/{index}", out)

        return check

    def _limit(self, bound: Any, at: str, applies: Callable[[Any], bool], measure: Callable[[Any], Any],
               fails: Callable[[Any, Any], bool], message: str) -> Check:
        if isinstance(bound, bool) or not isinstance(bound, int | Decimal | float):
            raise SchemaError(f"limit must be a number at {at}")

        def check(value: Any, loc: str, out: list[Violation]) -> None:
            if applies(value) and fails(measure(value), bound):
                out.append(Violation(loc, message))

        return check

    def _kw_minLength(self, n: Any, _s: Any, at: str) -> Check:  # noqa: N802
        return self._limit(n, at, _TYPES["string"], len, lambda m, b: m < b, f"text shorter than {n} characters")

    def _kw_maxLength(self, n: Any, _s: Any, at: str) -> Check:  # noqa: N802
        return self._limit(n, at, _TYPES["string"], len, lambda m, b: m > b, f"text longer than {n} characters")

    def _kw_minItems(self, n: Any, _s: Any, at: str) -> Check:  # noqa: N802
        return self._limit(n, at, _TYPES["array"], len, lambda m, b: m < b, f"fewer than {n} entries")

    def _kw_maxItems(self, n: Any, _s: Any, at: str) -> Check:  # noqa: N802
        return self._limit(n, at, _TYPES["array"], len, lambda m, b: m > b, f"more than {n} entries")

    def _kw_minimum(self, n: Any, _s: Any, at: str) -> Check:
        return self._limit(n, at, _TYPES["number"], _ident, lambda m, b: m < b, f"number below {n}")

    def _kw_maximum(self, n: Any, _s: Any, at: str) -> Check:
        return self._limit(n, at, _TYPES["number"], _ident, lambda m, b: m > b, f"number above {n}")

    def _kw_exclusiveMinimum(self, n: Any, _s: Any, at: str) -> Check:  # noqa: N802
        return self._limit(n, at, _TYPES["number"], _ident, lambda m, b: m <= b, f"number not above {n}")

    def _kw_exclusiveMaximum(self, n: Any, _s: Any, at: str) -> Check:  # noqa: N802
        return self._limit(n, at, _TYPES["number"], _ident, lambda m, b: m >= b, f"number not below {n}")

    def _kw_pattern(self, pattern: Any, _schema: Any, at: str) -> Check:
        try:
            regex = re.compile(pattern)
        except (re.error, TypeError):
            raise SchemaError(f"invalid pattern at {at}") from None

        def check(value: Any, loc: str, out: list[Violation]) -> None:
            if isinstance(value, str) and regex.search(value) is None:
                out.append(Violation(loc, "text does not match the required pattern"))

        return check

    def _alternatives(self, subschemas: Any, at: str) -> list[_Node]:
        if not isinstance(subschemas, list) or not subschemas:
            raise SchemaError(f"expected a non-empty list of schemas at {at}")
        return [self._compile(s, f"{at}/{i}") for i, s in enumerate(subschemas)]

    def _kw_allOf(self, subschemas: Any, _schema: Any, at: str) -> Check:  # noqa: N802
        nodes = self._alternatives(subschemas, at)

        def check(value: Any, loc: str, out: list[Violation]) -> None:
            for node in nodes:
                node(value, loc, out)

        return check

    def _kw_anyOf(self, subschemas: Any, _schema: Any, at: str) -> Check:  # noqa: N802
        return self._counting(self._alternatives(subschemas, at), lambda n: n >= 1,
                              "value matches none of the allowed alternatives")

    def _kw_oneOf(self, subschemas: Any, _schema: Any, at: str) -> Check:  # noqa: N802
        return self._counting(self._alternatives(subschemas, at), lambda n: n == 1,
                              "value must match exactly one of the alternatives")

    @staticmethod
    def _counting(nodes: list[_Node], accept: Callable[[int], bool], message: str) -> Check:
        def check(value: Any, loc: str, out: list[Violation]) -> None:
            matches = 0
            for node in nodes:
                scratch: list[Violation] = []
                node(value, loc, scratch)
                matches += not scratch
            if not accept(matches):
                out.append(Violation(loc, message))

        return check


def _ident(value: Any) -> Any:
    return value

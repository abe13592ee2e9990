"""A small, strict validator for the JSON Schema (draft 2020-12) keywords our schemas use.

Why not the ``jsonschema`` package: it is not a dependency of this project. To stay honest,
any keyword this module does not implement is refused when the schema is loaded, so a schema
can never be silently weaker than it reads. Messages name the location (a JSON Pointer) and
the rule, never the offending value.
"""

from __future__ import annotations

from typing import Any, Final

from gateway.mapping.jsonschema_keywords import KEYWORDS, Check, SchemaError, Violation, escape

__all__ = ["JsonSchema", "SchemaError", "Violation"]

ANNOTATIONS: Final = frozenset(
    {"$schema", "$id", "$comment", "title", "description", "default", "examples", "deprecated", "readOnly",
     "writeOnly", "format", "$defs"}
)  # fmt: skip


class _Node:
    """The checks of one (sub)schema; filled after creation so references can be recursive."""

    __slots__ = ("checks",)

    def __init__(self) -> None:
        self.checks: list[Check] = []

    def __call__(self, value: Any, location: str, out: list[Violation]) -> None:
        for check in self.checks:
            check(value, location, out)


class JsonSchema:
    """A compiled schema; ``validate`` returns every violation, in the order of the schema keywords."""

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
            if keyword == "$ref":
                node.checks.append(self._ref(argument, f"{at}/$ref"))
                continue
            build = KEYWORDS.get(keyword)
            if build is None:
                raise SchemaError(f"unsupported keyword {keyword!r} at {at or '/'}")
            node.checks.append(build(argument, schema, f"{at}/{escape(keyword)}", self._compile))
        for name, sub in schema.get("$defs", {}).items():
            self._compile(sub, f"{at}/$defs/{escape(name)}")  # unused definitions must be valid too
        return node

    def _ref(self, ref: Any, at: str) -> Check:
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

"""Which source locations of a JSON mapping hold multi-line text: its fields of type ``text``.

A channel that checks the characters of a submission before mapping it (the portal refuses
line breaks and tabs outside multi-line text fields) asks here, so the mapping file stays the
one place that says what each field is. Patterns are JSON Pointer parts with ``*`` for the
index of a repeated group's element.
"""

from __future__ import annotations

import jsonpointer

from gateway.mapping.run.paths import JsonPath
from gateway.mapping.run.spec import FieldSpec, MappingSpec

Pattern = tuple[str, ...]


def _parts(path: JsonPath) -> Pattern:
    return tuple(jsonpointer.JsonPointer(path.text).parts)


def _walk(fields: tuple[FieldSpec, ...], base: Pattern, found: set[Pattern]) -> None:
    for spec in fields:
        if spec.group is not None:
            group = spec.group
            inner = base + _parts(group.accessor) if isinstance(group.accessor, JsonPath) else base
            if group.repeat and isinstance(group.accessor, JsonPath):
                inner += ("*",)
            _walk(group.fields, inner, found)
        elif spec.type == "text" and spec.value is not None and isinstance(spec.value.accessor, JsonPath):
            found.add(base + _parts(spec.value.accessor))


def multiline_patterns(spec: MappingSpec) -> frozenset[Pattern]:
    found: set[Pattern] = set()
    _walk(spec.fields, (), found)
    return frozenset(found)

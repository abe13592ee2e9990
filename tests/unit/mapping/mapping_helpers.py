"""Plain helpers for the mapping tests (importable; fixtures live in conftest.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from gateway.mapping import MappingRegistry

Loader = Callable[..., MappingRegistry]

HEADER = """\
id: test.form
version: 1
title: Testformular
source: {format: "test:form", media_type: application/json}
applicant:
  kind: natural_person
  given_names: {path: /vorname, required: true}
  family_name: {path: /nachname, required: true}
"""


def line_of(text: str, marker: str) -> int:
    """1-based number of the first line of ``text`` containing ``marker``."""
    for number, line in enumerate(text.splitlines(), start=1):
        if marker in line:
            return number
    raise AssertionError(f"marker {marker!r} not in text")


def doc(**members: Any) -> bytes:
    """A JSON document with an applicant, plus ``values``."""
    return json.dumps({"vorname": "Erika", "nachname": "Mustermann", **members}).encode()


def values(fields: list[Any]) -> dict[str, Any]:
    """Field key -> value (groups: list of item dicts) of a mapped form, for compact asserts."""
    out: dict[str, Any] = {}
    for field in fields:
        if field.type == "group":
            out[field.key] = None if field.items is None else [values(item) for item in field.items]
        else:
            out[field.key] = field.value
    return out

"""Validating a source document against its schema (``source.schema``) before mapping.

The validators are compiled when the mappings load (gateway.mapping.load.schemas) and
shared by every mapping that names the same file. Reports carry locations, never values.
"""

from __future__ import annotations

from typing import Any, Final, Protocol

from gateway.errors import InvalidPayload
from gateway.jsonschema_check import JsonSchema, Violation
from gateway.safexml_schemas import XmlSchema

MAX_REPORTED: Final = 20


class SchemaValidator(Protocol):
    def validate(self, document: Any) -> None:
        """Raise :class:`InvalidPayload` naming the location of the first violation."""


def _refuse(violations: list[Violation]) -> None:
    first = violations[0]
    more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
    raise InvalidPayload(
        f"schema violation at {first.location or '/'}: {first.message}{more}",
        location=first.location,
        errors=[{"location": v.location, "message": v.message} for v in violations[:MAX_REPORTED]],
    )


class JsonSchemaValidator:
    def __init__(self, schema: JsonSchema) -> None:
        self._schema = schema

    def validate(self, document: Any) -> None:
        violations = self._schema.validate(document)
        if violations:
            _refuse(violations)


class XsdValidator:
    """libxml2's validator (gateway.safexml_schemas): linear in the document, and its reasons
    name the element and the kind of violation, never a value."""

    def __init__(self, schema: XmlSchema) -> None:
        self._schema = schema

    def validate(self, document: Any) -> None:
        self._schema.validate(document, label="source document")

"""Schemas a source document is validated against before mapping (``source.schema``).

Compiled once per registry load and shared by every mapping that names the same file.
"""

from __future__ import annotations

import json
from decimal import Decimal
from itertools import islice
from pathlib import Path
from typing import Any, Final, Protocol

import xmlschema

from gateway.errors import ConfigurationError, InvalidPayload
from gateway.mapping.jsonschema_check import JsonSchema, SchemaError, Violation

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
    def __init__(self, path: Path) -> None:
        schema = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
        self._schema = JsonSchema(schema)

    def validate(self, document: Any) -> None:
        violations = self._schema.validate(document)
        if violations:
            _refuse(violations)


class XsdValidator:
    def __init__(self, path: Path) -> None:
        self._schema = xmlschema.XMLSchema(str(path), defuse="always")

    def validate(self, document: Any) -> None:
        errors = list(islice(self._schema.iter_errors(document), MAX_REPORTED))
        # xmlschema's reasons can quote the offending text (personal data): keep the path only.
        if errors:
            _refuse([Violation(str(e.path or "/"), "does not conform to the schema") for e in errors])


class SchemaCache:
    """Loads each schema file once; ``where`` (``file:line``) is used in load errors."""

    def __init__(self, schemas_root: Path) -> None:
        self._root = schemas_root.resolve()
        self._loaded: dict[Path, SchemaValidator] = {}

    def get(self, name: Any, media_type: str, where: str) -> SchemaValidator:
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"{where}: schema must be a path relative to schemas/")
        path = (self._root / name).resolve()
        if not path.is_relative_to(self._root):
            raise ConfigurationError(f"{where}: schema {name!r} lies outside schemas/")
        expected = ".json" if media_type == "application/json" else ".xsd"
        if path.suffix != expected:
            raise ConfigurationError(f"{where}: a {media_type} source needs a {expected} schema, not {name!r}")
        if path not in self._loaded:
            if not path.is_file():
                raise ConfigurationError(f"{where}: schema file {name!r} not found under {self._root}")
            try:
                self._loaded[path] = JsonSchemaValidator(path) if expected == ".json" else XsdValidator(path)
            except (SchemaError, ValueError, xmlschema.XMLSchemaException, OSError) as exc:
                raise ConfigurationError(f"{where}: schema {name!r} is invalid: {exc}") from None
        return self._loaded[path]

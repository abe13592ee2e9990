"""Loading the schemas named by ``source.schema``: each file once per load, anchored in schemas/."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from lxml import etree

from gateway.errors import ConfigurationError
from gateway.jsonschema_check import JsonSchema, SchemaError
from gateway.mapping.run.schemas import JsonSchemaValidator, SchemaValidator, XsdValidator
from gateway.safexml_schemas import load_schema


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
                self._loaded[path] = _json_schema(path) if expected == ".json" else _xsd(path)
            except (SchemaError, ValueError, etree.XMLSchemaParseError, etree.XMLSyntaxError, OSError) as exc:
                raise ConfigurationError(f"{where}: schema {name!r} is invalid: {exc}") from None
        return self._loaded[path]


def _json_schema(path: Path) -> JsonSchemaValidator:
    return JsonSchemaValidator(JsonSchema(json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)))


def _xsd(path: Path) -> XsdValidator:
    return XsdValidator(load_schema(path))

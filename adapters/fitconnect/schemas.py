"""Schemas the channel validates against: FIT-Connect metadata (every version) and the local
registry of submission (Fachdaten) schemas, keyed by ``schemaUri``.

One JSON Schema engine for the gateway: ``jsonschema`` (Draft 2020-12). Validators are built
once and never fetch anything: a reference that is not local stays unresolved and fails, an
unknown ``schemaUri`` is "unsupported", not "download it". Formats are checked (``uri`` and
``date-time`` by the small checks below, the library has no dependency-free ones). Reports
name the place (a JSON pointer) and the keyword, never a value: the documents carry personal
data (the same rule as ``gateway.mapping.jsonschema_check``).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError

from adapters.fitconnect.problems import problem
from gateway.errors import ConfigurationError

SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "schemas"
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s\x00-\x1f\x7f]*$")
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")

FORMATS = FormatChecker(["date", "email", "uuid", "ipv4", "ipv6", "regex"])


@FORMATS.checks("uri")
def _is_uri(value: object) -> bool:
    return not isinstance(value, str) or bool(_URI.match(value))


@FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _DATE_TIME.match(value):
        return False
    dt.datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    return True


def compile_schema(schema: Any) -> Draft202012Validator:
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise ConfigurationError(f"unusable JSON Schema: {exc.message[:200]}") from None
    return Draft202012Validator(schema, format_checker=FORMATS)


def _pointer(path: Any) -> str:
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in path) if path else "/"


def first_error(validator: Draft202012Validator, instance: Any) -> str | None:
    """Where the first violation is (JSON pointer) and which keyword it breaks, or None when valid."""
    try:
        errors = sorted(validator.iter_errors(instance), key=lambda e: (list(map(str, e.absolute_path)), e.validator))
    except Exception:  # a reference that cannot be resolved (never fetched) fails the document
        return "/ (unresolvable reference)"
    if not errors:
        return None
    first = errors[0]
    return f"{_pointer(first.absolute_path)} ({first.validator})"


@dataclass(frozen=True)
class DataSchema:
    uri: str
    mime_type: str
    validator: Draft202012Validator


class DataSchemaRegistry:
    """Local registry of submission schemas: ``schemas/fim/registry.json`` lists uri -> file."""

    def __init__(self, registry_file: Path = SCHEMAS_DIR / "fim" / "registry.json") -> None:
        try:
            entries = orjson.loads(registry_file.read_bytes())["schemas"]
        except (OSError, KeyError, orjson.JSONDecodeError) as exc:
            raise ConfigurationError(f"cannot read schema registry {registry_file}: {type(exc).__name__}") from None
        self._schemas: dict[str, DataSchema] = {}
        for entry in entries:
            if entry["mimeType"] != "application/json":
                raise ConfigurationError(f"{registry_file}: only JSON submission schemas are supported")
            schema = orjson.loads((registry_file.parent / entry["file"]).read_bytes())
            if schema.get("$id") != entry["uri"]:
                raise ConfigurationError(f"{registry_file}: $id of {entry['file']} differs from its uri")
            self._schemas[entry["uri"]] = DataSchema(entry["uri"], entry["mimeType"], compile_schema(schema))

    def get(self, uri: str) -> DataSchema | None:
        return self._schemas.get(uri)


def check_data(schema: DataSchema, document: Any) -> None:
    where = first_error(schema.validator, document)
    if where is not None:
        raise problem("schema-violation", "data", f"data violates its submission schema at {where}")

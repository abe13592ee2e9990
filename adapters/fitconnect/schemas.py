"""Schemas the channel validates against: FIT-Connect metadata (per version) and the local
registry of submission (Fachdaten) schemas, keyed by ``schemaUri``.

Validators are compiled once (jsonschema-rs, draft 2020-12) and never fetch anything from
the network: an unknown ``schemaUri`` is "unsupported", not "download it".
Error details carry the JSON pointer of the offending place only, never the value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import jsonschema_rs
import orjson

from adapters.fitconnect.problems import problem
from gateway.errors import ConfigurationError

SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "schemas"
DEFAULT_METADATA_VERSION = "1.0.0"
_METADATA_URI = re.compile(r"^https://schema\.fitko\.de/fit-connect/metadata/(1\.\d+\.\d+)/metadata\.schema\.json$")


def _no_network(uri: str) -> NoReturn:
    raise ValueError("remote schema references are not fetched")


def _compile(schema: Any) -> jsonschema_rs.Validator:
    return jsonschema_rs.validator_for(schema, validate_formats=True, retriever=_no_network)


def _pointer(path: list[str | int]) -> str:
    return "/" + "/".join(str(p) for p in path) if path else "/"


def first_error(validator: jsonschema_rs.Validator, instance: Any) -> str | None:
    """The JSON pointer of the first violation, or None when valid."""
    for error in validator.iter_errors(instance):
        return _pointer(error.instance_path)
    return None


class MetadataSchemas:
    """FIT-Connect metadata schemas by version: every ``metadata-<version>.schema.json``."""

    def __init__(self, directory: Path = SCHEMAS_DIR / "fitconnect") -> None:
        self._validators: dict[str, jsonschema_rs.Validator] = {}
        for path in sorted(directory.glob("metadata-*.schema.json")):
            version = path.name.removeprefix("metadata-").removesuffix(".schema.json")
            self._validators[version] = _compile(orjson.loads(path.read_bytes()))
        if DEFAULT_METADATA_VERSION not in self._validators:
            raise ConfigurationError(f"FIT-Connect metadata schema {DEFAULT_METADATA_VERSION} missing in {directory}")

    @property
    def versions(self) -> list[str]:
        return sorted(self._validators)

    def validate(self, metadata: Any) -> str:
        """Validate and return the metadata version; raise the matching FIT-Connect problem."""
        if not isinstance(metadata, dict):
            raise problem("schema-violation", "metadata", "metadata is not a JSON object")
        declared = metadata.get("$schema")
        version = DEFAULT_METADATA_VERSION
        if declared is not None:
            match = _METADATA_URI.match(declared) if isinstance(declared, str) else None
            if match is None or match.group(1) not in self._validators:
                raise problem("unsupported-schema", "metadata", "metadata schema version is not supported")
            version = match.group(1)
        where = first_error(self._validators[version], metadata)
        if where is not None:
            raise problem("schema-violation", "metadata", f"metadata violates schema {version} at {where}")
        return version


@dataclass(frozen=True)
class DataSchema:
    uri: str
    mime_type: str
    validator: jsonschema_rs.Validator


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
            self._schemas[entry["uri"]] = DataSchema(entry["uri"], entry["mimeType"], _compile(schema))

    def get(self, uri: str) -> DataSchema | None:
        return self._schemas.get(uri)

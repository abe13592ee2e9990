"""Metadata schema per version, local submission-schema registry, problem mapping."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from adapters.fitconnect import testing
from adapters.fitconnect.outbound import metadata_for
from adapters.fitconnect.problems import PROBLEM_BASE, problem_for
from adapters.fitconnect.schemas import DataSchemaRegistry, MetadataSchemas, first_error
from gateway.errors import MappingFailed, PermanentError, UnknownService, UpstreamUnavailable

SCHEMAS = MetadataSchemas()
REGISTRY = DataSchemaRegistry()


def metadata() -> dict[str, Any]:
    return metadata_for(testing.application())


def slug_of(error: PermanentError) -> str:
    return str(error.extensions["fitconnect_problem"]["type"]).removeprefix(PROBLEM_BASE)


def test_supported_versions_and_default() -> None:
    assert SCHEMAS.versions == ["1.0.0", "1.1.0"]
    assert SCHEMAS.validate(metadata()) == "1.1.0"
    without = metadata()
    del without["$schema"]
    assert SCHEMAS.validate(without) == "1.0.0"


def test_unsupported_metadata_version() -> None:
    later = {**metadata(), "$schema": "https://schema.fitko.de/fit-connect/metadata/1.9.0/metadata.schema.json"}
    with pytest.raises(PermanentError) as caught:
        SCHEMAS.validate(later)
    assert slug_of(caught.value) == "unsupported-schema"


@pytest.mark.parametrize("path, value", [
    (("contentStructure", "data", "hash", "content"), "ABC"),
    (("contentStructure", "data", "hash", "type"), "sha256"),
    (("contentStructure", "data", "submissionSchema", "mimeType"), "text/plain"),
    (("contentStructure", "attachments", 0, "purpose"), "evidence"),
    (("contentStructure", "attachments", 0, "attachmentId"), "not-a-uuid"),
    (("publicServiceType", "identifier"), "Gewerbe anmelden"),
    (("replyChannel",), {}),
    (("replyChannel",), {"eMail": {"address": "a@example.org"}, "elster": {"accountId": "1"}}),
    (("replyChannel",), {"post": {"address": "x"}}),
    (("paymentInformation",), {"transactionId": "1", "paymentMethod": "CASH", "status": "BOOKED",
                               "transactionReference": "r"}),
])
def test_metadata_violations_name_the_place_not_the_value(path: tuple[Any, ...], value: Any) -> None:
    document = copy.deepcopy(metadata())
    target = document
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    with pytest.raises(PermanentError) as caught:
        SCHEMAS.validate(document)
    assert slug_of(caught.value) == "schema-violation"
    assert "a@example.org" not in caught.value.detail


def test_registry_knows_the_fim_schemas_and_validates_data() -> None:
    schema = REGISTRY.get("https://schema.fitko.de/fim/s00000096_1.0.schema.json")
    assert schema is not None and REGISTRY.get("https://schema.fitko.de/fim/unknown.json") is None
    document = orjson.loads((testing.APPLICATIONS / "gewerbe-anmelden-gmbh.json").read_bytes())
    assert first_error(schema.validator, document) is None
    document["G17003540"]["F17010042"] = "99"
    assert first_error(schema.validator, document) == "/G17003540/F17010042"


def test_core_errors_map_to_fitconnect_problems() -> None:
    assert problem_for(UnknownService("not offered"))["type"] == PROBLEM_BASE + "unsupported-service"
    assert problem_for(MappingFailed("field x"))["type"] == PROBLEM_BASE + "schema-violation"
    assert problem_for(PermanentError("?"))["type"] == PROBLEM_BASE + "technical-error"
    assert not isinstance(UpstreamUnavailable("x"), PermanentError)

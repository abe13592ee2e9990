"""Metadata schema per version, local submission-schema registry, problem mapping."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from adapters.fitconnect import content, testing
from adapters.fitconnect.outbound import metadata_for
from adapters.fitconnect.problems import PROBLEM_BASE, problem_for
from adapters.fitconnect.schemas import SCHEMAS_DIR as ROOT
from adapters.fitconnect.schemas import DataSchemaRegistry, MetadataSchemas, first_error
from gateway.case.model import ReplyChannel
from gateway.errors import MappingFailed, PermanentError, Problem, UnknownService, UpstreamUnavailable

SCHEMAS = MetadataSchemas()
SCHEMAS_DIR = ROOT / "fitconnect"
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
    (("paymentInformation",), {"transactionId": "1", "paymentMethod": "CASH", "status": "BOOKED",
                               "transactionReference": "r"}),
    # constraints of the published schema that our earlier subset did not have
    (("paymentInformation",), {"transactionId": "1 2", "paymentMethod": "INVOICE", "status": "BOOKED",
                               "transactionReference": "r"}),
    (("replyChannel",), {"elster": {"accountId": "12345"}}),
    (("replyChannel",), {"fink": {"finkPostfachRef": "HH/BY/12345"}}),
    (("authenticationInformation",), []),
    (("authenticationInformation",), [{"type": "identificationReport", "version": "01.0.0", "content": "a"}]),
    (("authenticationInformation",), [{"type": "identificationReport", "version": "1.0.0", "content": "a b"}]),
    (("contentStructure", "data", "signature"), {"signatureFormat": "cms"}),
    (("contentStructure", "data", "signature"), {"signatureFormat": "cms", "detachedSignature": True, "content": "QQ",
                                                  "eidasAdesProfile": "https://example.org/profile"}),
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


@pytest.mark.parametrize("version", ["1.0.0", "1.1.0"])
@pytest.mark.parametrize("path, value", [
    # allowed by the published schema, refused by our earlier subset
    (("paymentInformation",), {"transactionId": "tx-1", "paymentMethod": "PAYDIRECT", "status": "BOOKED",
                               "transactionReference": ""}),
    (("replyChannel",), {"post": {"address": "x"}}),  # no additionalProperties: false in the schema
    (("replyChannel",), {"fink": {"finkPostfachRef": ""}}),
    (("contentStructure", "data", "signature"), {"signatureFormat": "pdf", "detachedSignature": False}),
    (("contentStructure", "data", "hash", "algorithmVersion"), "2"),
    (("contentStructure", "attachments", 0, "mimeType"), "Application/PDF"),
    (("contentStructure", "attachments", 0, "filename"), ""),
    (("publicServiceType", "name"), ""),
    (("additionalReferenceInfo", "senderReference"), "x" * 300),
])
def test_published_schema_allows(version: str, path: tuple[Any, ...], value: Any) -> None:
    document = copy.deepcopy(metadata())
    document["$schema"] = f"https://schema.fitko.de/fit-connect/metadata/{version}/metadata.schema.json"
    if version == "1.0.0":
        del document["$schema"]  # 1.0.0 knows no $schema member (it does not forbid one either)
    target = document
    for step in path[:-1]:
        target = target[step] if isinstance(target, list) else target.setdefault(step, {})
    target[path[-1]] = value
    assert SCHEMAS.validate(document) == version


def test_metadata_1_1_0_adds_only_the_schema_member() -> None:
    old, new = (orjson.loads((SCHEMAS_DIR / f"metadata-{v}.schema.json").read_bytes()) for v in ("1.0.0", "1.1.0"))
    schema_member = new["properties"].pop("$schema")
    assert schema_member["pattern"].startswith("^https://schema\\.fitko\\.de/fit-connect/metadata/1\\.")
    for document in (old, new):
        del document["$id"]
        del document["$comment"]
    assert old == new
    bad = {**metadata(), "$schema": "https://schema.example.org/fit-connect/metadata/1.1.0/metadata.schema.json"}
    with pytest.raises(PermanentError) as caught:
        SCHEMAS.validate(bad)
    assert slug_of(caught.value) == "unsupported-schema"


def test_unknown_reply_channel_gives_none() -> None:
    assert content.reply_channel({"replyChannel": {"post": {"address": "x"}}}) is None
    assert content.reply_channel({"replyChannel": {"elster": {"accountId": "0123456789"}}}) == ReplyChannel(
        kind="elster", address="0123456789")


def test_registry_knows_the_fim_schemas_and_validates_data() -> None:
    schema = REGISTRY.get("https://schema.fitko.de/fim/s00000096_1.0.schema.json")
    assert schema is not None and REGISTRY.get("https://schema.fitko.de/fim/unknown.json") is None
    document = orjson.loads((testing.APPLICATIONS / "gewerbe-anmelden-gmbh.json").read_bytes())
    assert first_error(schema.validator, document) is None
    document["G17003540"]["F17010042"] = "99"
    assert first_error(schema.validator, document) == "/G17003540/F17010042"


def test_core_errors_map_to_fitconnect_problems() -> None:
    assert problem_for(Problem.of(UnknownService("not offered")))["type"] == PROBLEM_BASE + "unsupported-service"
    assert problem_for(Problem.of(MappingFailed("field x")))["type"] == PROBLEM_BASE + "schema-violation"
    assert problem_for(Problem.of(PermanentError("?")))["type"] == PROBLEM_BASE + "technical-error"
    assert not isinstance(UpstreamUnavailable("x"), PermanentError)

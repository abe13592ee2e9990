"""Metadata of every published version: a valid sample per version, invalid samples for each
kind of constraint, the version rules, and the one internal model every version becomes."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from adapters.fitconnect import testing
from adapters.fitconnect.metadata import SCHEMA_URI, MetadataSchemas, read, reply_channel
from adapters.fitconnect.outbound import OutgoingAttachment, metadata_for
from adapters.fitconnect.problems import PROBLEM_BASE, problem_for
from adapters.fitconnect.schemas import SCHEMAS_DIR, DataSchemaRegistry, first_error
from gateway.errors import (
    InvalidPayload,
    MappingFailed,
    PermanentError,
    Problem,
    UnknownService,
    UpstreamUnavailable,
)

SCHEMAS = MetadataSchemas()
VERSIONS = ["1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.5.0", "2.0.0", "2.1.0", "3.0.0"]
REGISTRY = DataSchemaRegistry()
UUID = "0b9f7c1e-5d4a-4c3b-8a2f-1e0d9c8b7a65"


def uri(version: str) -> str:
    return SCHEMA_URI.format(version=version)


def sample(version: str) -> dict[str, Any]:
    """A valid metadata document of ``version`` using what that version adds."""
    app = testing.application()
    big = OutgoingAttachment(attachment_id="6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b", filename="plan.pdf",
                             media_type="application/pdf", content=b"x" * 3000, fragment_bytes=1000)
    parts = tuple(int(p) for p in version.split("."))
    app = app.with_transport("v1", version)
    if parts >= (1, 3, 0):
        app = type(app)(**{**app.__dict__, "attachments": [*app.attachments, big]})
    if parts >= (1, 5, 0):
        app = type(app)(**{**app.__dict__, "data_as_attachment": True})
    document = metadata_for(app)
    if parts >= (1, 2, 0):
        document["replyChannel"] = {"fitConnect": {"encryptionPublicKey": {"kty": "RSA", "n": "AQAB", "e": "AQAB"},
                                                   "processStandards": ["urn:xoev-de:bmk:standard:xbau_2.4"]}}
    if version == "1.0.0":
        del document["$schema"]
    return document


def slug_of(error: PermanentError) -> str:
    return str(error.extensions["fitconnect_problem"]["type"]).removeprefix(PROBLEM_BASE)


def rejected(document: dict[str, Any], accepted: list[str] | None = None) -> str:
    with pytest.raises(PermanentError) as caught:
        SCHEMAS.validate(document, accepted)
    problem = caught.value.extensions["fitconnect_problem"]
    assert problem["instance"] == "metadata"
    return slug_of(caught.value)


def put(document: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    target: Any = changed
    for step in path[:-1]:
        target = target[step] if isinstance(target, list) else target.setdefault(step, {})
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return changed


DELETE = object()


def test_every_published_version_has_a_schema() -> None:
    assert SCHEMAS.versions == VERSIONS
    for version in VERSIONS:
        schema = orjson.loads((SCHEMAS_DIR / "fitconnect" / f"metadata-{version}.schema.json").read_bytes())
        assert schema["$id"] == uri(version)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_valid_sample_of_each_version_becomes_the_one_model(version: str) -> None:
    document = sample(version)
    declared, schema = SCHEMAS.validate(document)
    assert (declared, schema) == (version, version)
    model = read(document, declared, schema)
    assert model.service_identifier == "urn:de:fim:leika:leistung:99050012104000"
    assert model.attachments[0].filename == "nachweis.pdf"
    assert model.data is not None and model.data.schema_uri.startswith("https://schema.fitko.de/fim/")
    if version >= "1.3.0":
        fragmented = next(a for a in model.attachments if a.fragments)
        assert fragmented.fragments is not None and len(fragmented.fragments) == 3
    if version >= "1.5.0":
        assert model.data_attachment is not None and model.data_attachment.purpose == "data"
    if version >= "1.2.0":
        assert model.reply_channel is not None and model.reply_channel.kind == "fitconnect"
        assert model.reply_channel.details["processStandards"] == ["urn:xoev-de:bmk:standard:xbau_2.4"]


# every kind of constraint, each in every version
INVALID: list[tuple[str, tuple[Any, ...], Any]] = [
    ("required", ("contentStructure",), DELETE),
    ("required", ("contentStructure", "attachments"), DELETE),
    ("required", ("contentStructure", "data", "hash"), DELETE),
    ("required", ("contentStructure", "attachments", 0, "attachmentId"), DELETE),
    ("type", ("contentStructure", "attachments"), {}),
    ("type", ("publicServiceType",), "Gewerbe anmelden"),
    ("enum", ("contentStructure", "data", "hash", "type"), "sha256"),
    ("enum", ("contentStructure", "attachments", 0, "purpose"), "evidence"),
    ("enum", ("contentStructure", "data", "submissionSchema", "mimeType"), "text/plain"),
    ("pattern", ("contentStructure", "data", "hash", "content"), "ABC"),
    ("pattern", ("publicServiceType", "identifier"), "Gewerbe anmelden"),
    ("pattern", ("replyChannel",), {"elster": {"accountId": "12345"}}),
    ("format", ("contentStructure", "attachments", 0, "attachmentId"), "not-a-uuid-but-of-uuid-length-1234"),
    ("format", ("replyChannel",), {"eMail": {"address": "antwort at example.org"}}),
    ("format", ("contentStructure", "data", "submissionSchema", "schemaUri"), "kein uri"),
    ("format", ("paymentInformation",), {"transactionId": "tx-1", "paymentMethod": "INVOICE", "status": "BOOKED",
                                          "transactionReference": "r", "transactionTimestamp": "gestern"}),
    ("minItems", ("authenticationInformation",), []),
    ("maxProperties", ("replyChannel",), {"eMail": {"address": "a@example.org"},
                                          "deMail": {"address": "b@example.org"}}),
    ("minProperties", ("replyChannel",), {}),
    ("minimum", ("paymentInformation",), {"transactionId": "tx-1", "paymentMethod": "INVOICE", "status": "BOOKED",
                                           "transactionReference": "r", "grossAmount": 0}),
    ("multipleOf", ("paymentInformation",), {"transactionId": "tx-1", "paymentMethod": "INVOICE", "status": "BOOKED",
                                              "transactionReference": "r", "grossAmount": 1.005}),
    ("maxLength", ("replyChannel",), {"elster": {"accountId": "0123456789", "geschaeftszeichen": "x" * 11}}),
]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("kind", "path", "value"), INVALID,
                         ids=[f"{k}-{'.'.join(map(str, p))}" for k, p, _ in INVALID])
def test_each_kind_of_constraint_is_enforced_in_each_version(version: str, kind: str, path: tuple[Any, ...],
                                                             value: Any) -> None:
    document = put(sample(version), path, value)
    with pytest.raises(PermanentError) as caught:
        SCHEMAS.validate(document)
    assert slug_of(caught.value) == "schema-violation"
    assert f"({kind})" in caught.value.detail or (kind == "required" and "(required)" in caught.value.detail)
    assert "example.org" not in caught.value.detail and "gestern" not in caught.value.detail  # no values echoed


@pytest.mark.parametrize("version", ["2.0.0", "2.1.0", "3.0.0"])
def test_from_2_0_0_the_schema_member_is_required_and_names_the_major(version: str) -> None:
    schema = orjson.loads((SCHEMAS_DIR / "fitconnect" / f"metadata-{version}.schema.json").read_bytes())
    assert schema["required"] == ["$schema", "contentStructure"]
    assert f"/metadata/{version[0]}\\." in schema["properties"]["$schema"]["pattern"]
    # a document without $schema is a 1.0.0 document: a destination taking only 2.x and 3.x refuses
    # it, and 1.0.0's schema does not know what later versions added (purpose: data)
    document = put(sample(version), ("$schema",), DELETE)
    assert rejected(document, accepted=["2.0.0", "2.1.0", "3.0.0"]) == "unsupported-schema"
    with pytest.raises(PermanentError) as caught:
        SCHEMAS.validate(document)
    assert "schema 1.0.0" in caught.value.detail and "(enum)" in caught.value.detail


def test_unknown_major_version_is_unsupported_and_other_minors_use_the_nearest_schema() -> None:
    assert rejected(put(sample("2.1.0"), ("$schema",), uri("4.0.0"))) == "unsupported-schema"
    assert rejected(put(sample("1.1.0"), ("$schema",), "https://example.org/metadata.schema.json")) \
        == "unsupported-schema"
    # a version without a file here is never refused for that alone
    assert SCHEMAS.validate(put(sample("1.5.0"), ("$schema",), uri("1.9.0"))) == ("1.9.0", "1.5.0")
    assert SCHEMAS.validate(put(sample("1.3.0"), ("$schema",), uri("1.4.0"))) == ("1.4.0", "1.3.0")
    assert SCHEMAS.validate(put(sample("2.1.0"), ("$schema",), uri("2.3.7"))) == ("2.3.7", "2.1.0")


def test_the_destination_s_metadata_versions_decide() -> None:
    assert rejected(sample("2.1.0"), accepted=["1.0.0", "1.1.0"]) == "unsupported-schema"
    assert SCHEMAS.validate(sample("2.1.0"), ["2.1.0"]) == ("2.1.0", "2.1.0")
    assert SCHEMAS.validate(put(sample("2.1.0"), ("$schema",), uri("2.1.4")), ["2.1.0"]) == ("2.1.4", "2.1.0")


@pytest.mark.parametrize("version", ["1.3.0", "1.5.0", "2.0.0", "2.1.0", "3.0.0"])
def test_empty_fragments_are_refused_where_the_schema_defines_them(version: str) -> None:
    """A client that serializes ``fragments: []`` (the Java SDK 4.0.0-rc.1 does) breaks these
    schemas: when the property is present it needs at least one entry."""
    document = put(sample(version), ("contentStructure", "attachments", 0, "fragments"), [])
    with pytest.raises(PermanentError) as caught:
        SCHEMAS.validate(document)
    assert slug_of(caught.value) == "schema-violation" and "(minItems)" in caught.value.detail


@pytest.mark.parametrize("version", ["1.0.0", "1.1.0", "1.2.0"])
def test_empty_fragments_mean_nothing_before_1_3_0(version: str) -> None:
    document = put(sample(version), ("contentStructure", "attachments", 0, "fragments"), [])
    declared, schema = SCHEMAS.validate(document)
    assert read(document, declared, schema).attachments[0].fragments is None  # the attachment as a whole


def test_reply_channels_become_the_model_s_reply_channel() -> None:
    pgp = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQENBF..."
    assert reply_channel({"replyChannel": {"eMail": {"address": "a@example.org", "pgpPublicKey": pgp}}}) \
        .details == {"pgpPublicKey": pgp}  # type: ignore[union-attr]
    found = [reply_channel({"replyChannel": channel}) for channel in (
        {"deMail": {"address": "b@example.de-mail.de"}}, {"fink": {"finkPostfachRef": "hh/123", "host": "https://f"}},
        {"elster": {"accountId": "0123456789", "lieferTicket": "t"}}, {"idBundMailbox": {"mailboxUuid": UUID}},
        {"fitConnect": {"encryptionPublicKey": {"kty": "RSA"}, "processStandards": ["urn:x"]}})]
    assert [(c.kind, c.address) for c in found if c] == [
        ("demail", "b@example.de-mail.de"), ("fink", "hh/123"), ("elster", "0123456789"), ("bundid", UUID),
        ("fitconnect", None)]
    assert reply_channel({"replyChannel": {"post": {"address": "x"}}}) is None  # a later channel: no error


@pytest.mark.parametrize("version", ["1.0.0", "1.1.0"])
@pytest.mark.parametrize("path, value", [
    # allowed by the published schema
    (("paymentInformation",), {"transactionId": "tx-1", "paymentMethod": "PAYDIRECT", "status": "BOOKED",
                               "transactionReference": ""}),
    (("replyChannel",), {"post": {"address": "x"}}),  # no additionalProperties: false in the schema
    (("replyChannel",), {"fink": {"finkPostfachRef": ""}}),
    (("contentStructure", "data", "signature"), {"signatureFormat": "pdf", "detachedSignature": False}),
    (("contentStructure", "attachments", 0, "mimeType"), "Application/PDF"),
    (("additionalReferenceInfo", "senderReference"), "x" * 300),
])
def test_published_schema_allows(version: str, path: tuple[Any, ...], value: Any) -> None:
    assert SCHEMAS.validate(put(sample(version), path, value)) == (version, version)


def test_metadata_1_1_0_adds_only_the_schema_member() -> None:
    folder = SCHEMAS_DIR / "fitconnect"
    old, new = (orjson.loads((folder / f"metadata-{v}.schema.json").read_bytes()) for v in ("1.0.0", "1.1.0"))
    schema_member = new["properties"].pop("$schema")
    assert schema_member["pattern"].startswith("^https://schema\\.fitko\\.de/fit-connect/metadata/1\\.")
    for document in (old, new):
        del document["$id"]
        del document["$comment"]
    assert old == new


def test_registry_knows_the_fim_schemas_and_validates_data() -> None:
    schema = REGISTRY.get("https://schema.fitko.de/fim/s00000096_1.0.schema.json")
    assert schema is not None and REGISTRY.get("https://schema.fitko.de/fim/unknown.json") is None
    document = orjson.loads((testing.APPLICATIONS / "gewerbe-anmelden-gmbh.json").read_bytes())
    assert first_error(schema.validator, document) is None
    document["G17003540"]["F17010042"] = "99"
    where = first_error(schema.validator, document)
    assert where is not None and where.startswith("/G17003540/F17010042 (") and "99" not in where


def test_core_errors_map_to_fitconnect_problems() -> None:
    assert problem_for(Problem.of(UnknownService("not offered")))["type"] == PROBLEM_BASE + "unsupported-service"
    assert problem_for(Problem.of(MappingFailed("field x")))["type"] == PROBLEM_BASE + "schema-violation"
    assert problem_for(Problem.of(PermanentError("?")))["type"] == PROBLEM_BASE + "technical-error"
    assert not isinstance(UpstreamUnavailable("x"), PermanentError)
    # the problem record the core stores for an error gives the same problem
    stored = Problem.from_dict(InvalidPayload("bad").to_problem())
    assert problem_for(stored)["type"] == PROBLEM_BASE + "schema-violation"
    carried = {"type": PROBLEM_BASE + "hash-mismatch", "title": "t", "detail": "d", "instance": "data"}
    assert problem_for(Problem.from_dict({"type": "x", "fitconnect_problem": carried})) == carried

"""The citizen postbox's envelope, author token and payloads (no network)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid
from pathlib import Path

import orjson
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from joserfc import jws
from joserfc.jwk import RSAKey
from jsonschema import Draft202012Validator

from adapters.fitconnect import pki, testing, zbp
from adapters.fitconnect.keys import private_key_from_jwk
from adapters.fitconnect.zbp_payload import (
    Document,
    PayloadSchema,
    PostboxRefused,
    Sender,
    application_id,
    mailbox_of,
    message,
    status,
    stork_level,
)
from gateway.errors import ConfigurationError

KEY = testing.REPO / "fixtures/fitconnect/zbp/tangerhuette-author-2026.key.pem"
CERT = testing.REPO / "fixtures/fitconnect/zbp/tangerhuette-author-2026.cert.pem"
AUTHOR = zbp.Author.load(KEY, CERT)
SENDER = Sender(name="Stadt Tangerhütte", reply_address="rathaus@tangerhuette.example")
MAILBOX = "5f0c2b1e-8d4a-4c7e-9b3f-2a6d8e1c0f47"


class Blobs:
    """The blob store in memory (content-addressed like the real one)."""

    def __init__(self) -> None:
        self.items: dict[str, bytes] = {}

    def put(self, content: bytes, sha512: str | None = None) -> str:
        key = "sha512/" + (sha512 or hashlib.sha512(content).hexdigest())
        self.items[key] = content
        return key

    def get(self, key: str) -> bytes:
        return self.items[key]


def public() -> rsa.RSAPublicKey:
    key = AUTHOR.certificate.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    return key


def test_the_envelope_has_the_four_members_and_signs_the_exact_content_bytes() -> None:
    content = orjson.dumps({"title": "Bescheid über Ihre Anmeldung / Gewerbe", "mailboxUuid": MAILBOX})
    envelope = orjson.loads(zbp.envelope(content, AUTHOR))
    assert list(envelope) == ["content", "sha512sum", "authorToken", "authorCertificate"]
    assert envelope["content"].encode() == content  # a JSON string, nothing escaped or re-serialised
    assert "über" in envelope["content"] and "/ Gewerbe" in envelope["content"]
    signature = base64.b64decode(envelope["sha512sum"], validate=True)
    public().verify(signature, content, padding.PKCS1v15(), hashes.SHA512())
    with pytest.raises(InvalidSignature):  # the same JSON with other spacing is other bytes
        public().verify(signature, orjson.dumps(orjson.loads(content), option=orjson.OPT_INDENT_2),
                        padding.PKCS1v15(), hashes.SHA512())
    assert envelope["authorCertificate"] == CERT.read_text()


def test_the_author_token_is_an_rs512_jwt_of_the_certificates_cn_for_thirty_minutes() -> None:
    token = zbp.author_token(AUTHOR, now=1_800_000_000.7)
    header = orjson.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"typ": "JWT", "alg": "RS512"}
    key = RSAKey.import_key(public())
    claims = orjson.loads(jws.deserialize_compact(token, key, algorithms=["RS512"]).payload)
    assert claims == {"iat": 1_800_000_000, "exp": 1_800_001_800, "signer": "Stadt Tangerhuette (TEST ZBP author)",
                      "roles": ["THIRD_PARTY"]}


def test_an_author_key_that_does_not_fit_its_certificate_is_refused(tmp_path: Path) -> None:
    other = testing.KEY_DIR / "landkreis-sig-2026.jwk.json"
    (tmp_path / "k.pem").write_bytes(pki.key_pem(private_key_from_jwk(orjson.loads(other.read_bytes()))))
    with pytest.raises(ConfigurationError, match="does not belong"):
        zbp.Author.load(tmp_path / "k.pem", CERT)
    with pytest.raises(ConfigurationError, match="validity"):
        zbp.Author.load(KEY, CERT, now=dt.datetime(2090, 1, 1, tzinfo=dt.UTC))
    with pytest.raises(ConfigurationError, match="unreadable"):
        zbp.Author.load(tmp_path / "missing.pem", CERT)


def test_the_derived_schema_is_marked_and_valid() -> None:
    raw = orjson.loads((testing.REPO / "schemas/fitconnect/zbp-message-v6.schema.json").read_bytes())
    Draft202012Validator.check_schema(raw)
    assert raw["$id"] == zbp.SCHEMA_URI and raw["$comment"].startswith("DERIVED")


def test_a_message_carries_the_decision_and_its_documents_by_name_hash_and_length() -> None:
    c = testing.make_case(Blobs())
    reply = testing.reply_for(c, Blobs(), MAILBOX)
    payload = message(reply, MAILBOX, [Document("bescheid.pdf", "ab" * 64, 1234)], SENDER)
    PayloadSchema().check("message", payload)
    assert payload == {
        "mailboxUuid": MAILBOX, "stork_qaa_level": 3, "sender": "Stadt Tangerhütte", "title": reply.title,
        "content": reply.text, "service": "Gewerbe anmelden", "applicationId": application_id(c),
        "reference": c.reference, "replyAddress": "rathaus@tangerhuette.example",
        "attachments": [{"filename": "bescheid.pdf", "sha512sum": "ab" * 64, "contentLength": 1234}]}


def test_a_status_update_names_the_application_and_a_zbp_status() -> None:
    application = str(uuid.uuid4())
    c = testing.make_case(Blobs(), references={"zbpApplicationId": application.upper()})
    now = dt.datetime(2026, 3, 4, 5, 6, 7, 891_234, tzinfo=dt.UTC)
    payload = status(testing.reply_for(c, Blobs(), MAILBOX, kind="status", status="decided", title="Entschieden",
                                       text=""), SENDER, now)
    PayloadSchema().check("status", payload)
    assert payload == {"applicationId": application, "status": "COMPLETED",
                       "publicServiceName": {"de": "Gewerbe anmelden"}, "senderName": "Stadt Tangerhütte",
                       "createdDate": "2026-03-04T05:06:07.891Z", "reference": c.reference,
                       "statusDetails": {"de": "Entschieden"}}
    with pytest.raises(PostboxRefused):  # the online service sets SUBMITTED, not the authority
        status(testing.reply_for(c, Blobs(), MAILBOX, kind="status", status="SUBMITTED"), SENDER, now)


def test_without_an_application_id_the_case_gets_a_stable_one() -> None:
    c = testing.make_case(Blobs())
    assert application_id(c) == application_id(c) == str(uuid.UUID(application_id(c)))
    assert application_id(testing.make_case(Blobs())) != application_id(c)


@pytest.mark.parametrize(("trust", "context", "expected"), [
    ("hoch", "STORK-QAA-Level-4", 4), ("substantiell", None, 3), ("niedrig", "STORK-QAA-Level-2", 2),
    ("niedrig", None, 1)])
def test_a_message_asks_for_the_level_of_the_applications_login(trust: str, context: str | None,
                                                                 expected: int) -> None:
    assert stork_level(testing.make_case(Blobs(), trust_level=trust, authn_context=context), SENDER) == expected


def test_without_a_login_the_default_level_applies_and_never_below_the_minimum() -> None:
    named = testing.make_case(Blobs(), mailbox=None, reply_channel={"kind": "postbox", "address": f"bundid:{MAILBOX}"})
    assert named.applicant.account is None and mailbox_of(named) == MAILBOX
    assert stork_level(named, SENDER) == 3
    strict = Sender(name="x", minimum_stork_qaa_level=4)
    assert stork_level(testing.make_case(Blobs(), trust_level="niedrig", authn_context=None), strict) == 4


@pytest.mark.parametrize(("member", "value", "where"), [
    ("stork_qaa_level", 5, "/stork_qaa_level (maximum)"), ("title", "", "/title (minLength)"),
    ("mailboxUuid", "nope", "/mailboxUuid"), ("extra", 1, "/ (additionalProperties)")])
def test_a_payload_breaking_the_schema_is_refused_naming_the_place_not_the_value(member: str, value: object,
                                                                                 where: str) -> None:
    c = testing.make_case(Blobs())
    payload = {**message(testing.reply_for(c, Blobs(), MAILBOX), MAILBOX, [], SENDER), member: value}
    with pytest.raises(PostboxRefused) as raised:
        PayloadSchema().check("message", payload)
    assert where in raised.value.detail and "nope" not in raised.value.detail

"""Which applications the FIT-Connect reply channel can answer, and with which key."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters.fitconnect import pki, testing
from adapters.fitconnect.reply_channel import ReplyRefused, offer_of, reply_key

STANDARD = testing.REPLY_STANDARD


class Blobs:
    def __init__(self) -> None:
        self.items: dict[str, bytes] = {}

    def put(self, content: bytes, sha512: str | None = None) -> str:
        key = "sha512/" + hashlib.sha512(content).hexdigest()
        self.items[key] = content
        return key


def offered_key() -> dict[str, Any]:
    channel: dict[str, Any] = testing.fitconnect_reply_channel()["fitConnect"]["encryptionPublicKey"]
    return dict(channel)


def fitconnect_case(offer: dict[str, Any] | None = None, **references: str) -> Any:
    refs = {"caseId": str(uuid.uuid4()), "destinationId": str(uuid.uuid4()), "apiVersion": "v2",
            "replyChannel": orjson.dumps({"kind": "fitconnect", "address": None,
                                          **(offer or testing.fitconnect_reply_channel()["fitConnect"])}).decode(),
            **references}
    address = f"{refs['destinationId']}/{refs['caseId']}"
    case = testing.make_case(Blobs(), mailbox=None, references=refs,  # type: ignore[arg-type]
                             reply_channel={"kind": "fitconnect", "address": address})
    return case.model_copy(update={"source": case.source.model_copy(update={"channel": "fitconnect"})})


def test_an_offer_with_a_usable_key_and_a_known_standard_is_answered() -> None:
    case = fitconnect_case()
    offer = offer_of(case, [STANDARD])
    assert offer is not None and offer.process_standard == STANDARD and offer.api_version == "v2"
    assert offer.kid == "efa-reply-enc-2026" and offer.case_id == case.source.references["caseId"]


def test_a_standard_not_answered_here_or_another_channel_is_no_offer() -> None:
    assert offer_of(fitconnect_case(), ["urn:xoev-de:bmk:standard:xbau_2.4"]) is None
    assert offer_of(fitconnect_case(caseId="../x"), [STANDARD]) is None
    portal = testing.make_case(Blobs())  # type: ignore[arg-type]
    assert offer_of(portal, [STANDARD]) is None


def test_a_key_without_kid_is_named_by_its_thumbprint() -> None:
    jwk = {k: v for k, v in offered_key().items() if k != "kid"}
    key, kid = reply_key(jwk)
    assert kid == key.thumbprint()


@pytest.mark.parametrize("change", [
    {"d": "AQAB"}, {"alg": "RSA1_5"}, {"key_ops": ["verify"]}, {"e": "Aw"}, {"kty": "EC"}, {"use": "sig"}])
def test_an_unfit_offered_key_is_refused(change: dict[str, Any]) -> None:
    with pytest.raises(ReplyRefused):
        reply_key({**offered_key(), **change})


def test_a_short_key_is_refused() -> None:
    small = rsa.generate_private_key(65537, 2048)
    jwk = pki.public_jwk(pki.private_jwk(small, "small", "encryption", []))
    with pytest.raises(ReplyRefused, match="4096"):
        reply_key({k: v for k, v in jwk.items() if k != "x5c"})

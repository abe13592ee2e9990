"""The two yardsticks of the postbox benchmark, for one decision each.

* :class:`Floor`: the work no implementation can skip for one decision, done with
  ``cryptography``/hashlib/sqlite3 directly -- the envelope's two signatures (RSASSA-PKCS1-v1_5
  SHA-512 over the content, the RS512 author token), the JWE encryption of metadata, data (the
  envelope) and the document (a fresh CEK wrapped with RSA-OAEP-256, AES-256-GCM, the five
  base64url segments), the SHA-512 of the document, and one durable commit (one row,
  ``sqlite3`` directly, WAL and ``synchronous=FULL``).
* :func:`sdk_submission`: what the PyPI SDK ``fitconnect`` 0.4.2 spends in
  ``FITConnectClient.submission()`` for the same data and document, its HTTP replaced by
  in-memory answers (``_authorized_get/_post/_put``, which also skips its token request): three
  times JWK parse + DEFLATE + RSA-OAEP-256 + AES-GCM, two SHA-512, ``jsonschema.validate`` of
  its metadata 1.0.0. It signs nothing (the envelope is handed to it signed) and speaks API v1.
"""

from __future__ import annotations

import base64
import hashlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def b64url(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(raw).rstrip(b"=")


@dataclass(frozen=True)
class Inputs:
    """One decision's bytes as the channel produces them (made before the floor is timed)."""

    content: bytes  # the ZBP message JSON
    token_input: bytes  # header.claims of the author token
    metadata: bytes
    envelope: bytes
    document: bytes


class Floor:
    def __init__(self, folder: Path, author_key: rsa.RSAPrivateKey, destination_key: rsa.RSAPublicKey,
                 kid: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.author, self.destination = author_key, destination_key
        self.header = {ct: b64url(orjson.dumps({"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": kid, "cty": ct}))
                       for ct in ("application/json", "application/pdf")}
        self.db = sqlite3.connect(folder / "floor.db", isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("CREATE TABLE IF NOT EXISTS replies (id INTEGER PRIMARY KEY, row BLOB NOT NULL)")
        self.count = 0

    def jwe(self, plaintext: bytes, media_type: str) -> bytes:
        cek, iv, header = os.urandom(32), os.urandom(12), self.header[media_type]
        sealed = AESGCM(cek).encrypt(iv, plaintext, header)
        return b".".join((header, b64url(self.destination.encrypt(cek, OAEP)), b64url(iv), b64url(sealed[:-16]),
                          b64url(sealed[-16:])))

    def once(self, inputs: Inputs) -> None:
        self.author.sign(inputs.content, padding.PKCS1v15(), hashes.SHA512())
        self.author.sign(inputs.token_input, padding.PKCS1v15(), hashes.SHA512())
        hashlib.sha512(inputs.document).digest()
        self.jwe(inputs.metadata, "application/json")
        self.jwe(inputs.envelope, "application/json")
        self.jwe(inputs.document, "application/pdf")
        self.count += 1
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute("INSERT INTO replies (id, row) VALUES (?, ?)", (self.count, b"x" * 300))
        self.db.execute("COMMIT")

    def close(self) -> None:
        self.db.close()


class _Answer:
    """What the SDK reads of a ``requests.Response``."""

    def __init__(self, status: int, body: Any) -> None:
        self.status_code, self._body = status, body
        self.text = orjson.dumps(body).decode()

    def json(self) -> Any:
        return self._body


def sdk_client(destination_jwk: dict[str, Any]) -> Any:
    """A ``fitconnect.FITConnectClient`` whose HTTP is answered in memory (no token request either)."""
    from fitconnect import Environment, FITConnectClient  # the bench extra: only the benchmark imports it

    client = FITConnectClient(Environment.TESTING, "bench-client", "bench-secret")
    public = {k: destination_jwk[k] for k in ("kty", "kid", "alg", "n", "e")} | {"key_ops": ["wrapKey"]}

    def get(path: str) -> _Answer:
        return _Answer(200, public if "/keys/" in path else {"encryptionKid": public["kid"]})

    def post(path: str, json: Any = None, data: Any = None) -> _Answer:
        return _Answer(201, {"submissionId": "0b0b0b0b-0000-4000-8000-000000000001",
                             "caseId": "0c0c0c0c-0000-4000-8000-000000000001", "destinationId": "x"})

    def put(path: str, json: Any = None, data: Any = None, content_type: str | None = None) -> _Answer:
        return _Answer(204 if "/attachments/" in path else 200, {})

    client._authorized_get, client._authorized_post, client._authorized_put = get, post, put
    return client


def sdk_submission(client: Any, destination_id: str, envelope: bytes, document: bytes, schema_uri: str) -> None:
    client.submission(destination_id, "urn:schema-fitko-de:fit-connect:id.bund.de:message_v6", data=envelope,
                      data_schema={"schemaUri": schema_uri, "mimeType": "application/json"}, attachments=[document])

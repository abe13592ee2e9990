"""The receive path of the PyPI FIT-Connect SDK (``fitconnect`` 0.4.2), without the network.

``FITConnectClient.retrieve_submission(submission_id, private_key)`` is the SDK's subscriber
side. Per submission it: fetches the submission (``_get_submission``: ``GET /submissions/{id}``
and ``.json()``), decrypts the metadata with jwcrypto (``decrypt_json``: RSA-OAEP-256 unwrap,
AES-256-GCM, inflate ``zip: DEF``, ``json.loads``), validates it against its bundled metadata
schema 1.0.0 (``_validate_metadata_schema``: ``jsonschema.validate``), decrypts the data and
checks its SHA-512 against the metadata (``verify_metadata_data_hash``), parses the data
(``json.loads``), then fetches and decrypts every attachment and checks its SHA-512
(``verify_metadata_attachment_hash``). It stores nothing, checks no event log (its source marks
that as a TODO) and sends no accept.

:class:`SdkReceiver` calls exactly that method. Only the SDK's private HTTP helper
``_authorized_get`` is replaced: it answers with the bytes the sandbox Zustelldienst served for
the same submission (captured beforehand), so no token request and no HTTP happen. What remains
of the response handling is what any client does with the bodies: ``json.loads`` of the
submission and the attachment's bytes decoded as text.

The private key: ``retrieve_submission`` builds a new jwcrypto ``JWK`` from the JSON it is given
on every call, and jwcrypto then loads the RSA private key through ``cryptography``, which checks
the key (for RSA-4096 about 0.3 s of CPU here, more than everything else together). A long-running
subscriber would keep its key object, so the comparison line reuses one loaded key: the module's
``jwk`` name is pointed to a stand-in whose ``JWK.from_json`` returns that key (``reuse_key``).
``key_import_cost`` measures what the call as published costs on top.
"""

from __future__ import annotations

import json
import time
import types
from dataclasses import dataclass
from typing import Any

from fitconnect import fitconnect as sdk
from jwcrypto import jwk


@dataclass(frozen=True)
class Captured:
    """What the Zustelldienst answered for one submission: the body of ``GET /submissions/{id}``
    and the body of every ``GET /submissions/{id}/attachments/{attachmentId}``."""

    submission_id: str
    submission: bytes
    attachments: dict[str, bytes]


class _Answer:
    """The part of a ``requests.Response`` the SDK's receive path reads."""

    status_code = 200

    def __init__(self, body: bytes) -> None:
        self._body = body

    def json(self) -> Any:
        return json.loads(self._body)

    @property
    def text(self) -> str:
        return self._body.decode("utf-8")


class SdkReceiver:
    def __init__(self, private_jwk: dict[str, Any], reuse_key: bool = True) -> None:
        self.private_jwk = private_jwk
        self.client = sdk.FITConnectClient(sdk.Environment.TESTING, "bench-client-id", "bench-client-secret")
        self._current: Captured | None = None
        self.client._authorized_get = self._get  # type: ignore[method-assign]
        self._module_jwk = sdk.jwk
        if reuse_key:
            loaded = jwk.JWK.from_json(json.dumps(private_jwk))
            sdk.jwk = types.SimpleNamespace(JWK=types.SimpleNamespace(from_json=lambda _: loaded))

    def close(self) -> None:
        sdk.jwk = self._module_jwk

    def _get(self, path: str) -> _Answer:
        current = self._current
        assert current is not None
        prefix = f"/submissions/{current.submission_id}"
        if path == prefix:
            return _Answer(current.submission)
        attachment_id = path.removeprefix(prefix + "/attachments/")
        return _Answer(current.attachments[attachment_id])

    def receive(self, captured: Captured) -> dict[str, Any]:
        """The SDK's ``retrieve_submission`` for one captured submission: decrypted metadata,
        data and attachments, checked as the SDK checks them."""
        self._current = captured
        try:
            result: dict[str, Any] = self.client.retrieve_submission(captured.submission_id, self.private_jwk)
        finally:
            self._current = None
        return result


def key_import_cost(private_jwk: dict[str, Any], calls: int = 3) -> float:
    """CPU seconds ``retrieve_submission`` spends per call on making a jwcrypto key of the JWK
    it is given (``JWK.from_json`` and the first use, which loads and checks the RSA key)."""
    start = time.process_time()
    for _ in range(calls):
        key = jwk.JWK.from_json(json.dumps(private_jwk))
        key.get_op_key("unwrapKey")
    return (time.process_time() - start) / calls

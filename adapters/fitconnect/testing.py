"""Helpers for tests, the benchmark and the demo: TEST configuration against the sandbox.

Everything here uses the TEST keys from ``fixtures/`` and must never configure production.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
from joserfc import jwe
from joserfc.jwk import RSAKey

from adapters.fitconnect import jose, pki, plugin
from adapters.fitconnect.api import SubmissionApi
from adapters.fitconnect.keycheck import load_anchors
from adapters.fitconnect.outbound import Application, Created, Outbound, OutgoingAttachment, metadata_for
from adapters.fitconnect.sandbox import config as sb
from adapters.fitconnect.sandbox.state import Sandbox
from adapters.fitconnect.tokens import TokenSource
from adapters.fitconnect.wire import ApiVersion
from gateway.case.model import Case
from gateway.ports import BlobStore, InboundMessage, OutgoingReply, ReplyDocument, ReplyKind, StateStore
from gateway.store.blobs import FilesystemBlobStore

REPO = Path(__file__).resolve().parents[2]
APPLICATIONS = REPO / "fixtures" / "fitconnect" / "applications"
TRUST_ANCHOR = REPO / "fixtures" / "pki" / "test-root-ca.pem"
KEY_DIR = REPO / "fixtures" / "fitconnect" / "keys"
TENANT_ARS = "150905350535"


def gateway_options(sandbox_url: str, *, poll_interval: float = 0.001, issuer: str = sb.DEMO_ISSUER,
                    destination: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """Adapter options for a gateway subscribed to the sandbox's demo destination (Tangerhütte).

    ``issuer`` is the ``iss`` the Zustelldienst's SETs must carry: a sandbox made by
    ``demo_config()`` signs with its own base URL (pass ``sandbox_url``), ``make run``'s sandbox
    and the offline benchmark with :data:`~adapters.fitconnect.sandbox.config.DEMO_ISSUER`.
    ``destination`` adds options of the demo destination (``api_version``, ``limits``, ...).
    """
    options: dict[str, Any] = {
        "token_url": f"{sandbox_url}/token",
        "submission_api_url": sandbox_url,
        "client_id": sb.GATEWAY_CLIENT[0],
        "client_secret": sb.GATEWAY_CLIENT[1],
        "trust_anchor": str(TRUST_ANCHOR),
        "zustelldienst_issuer": issuer,
        "poll_interval_seconds": poll_interval,
        "destinations": [{
            "id": sb.DEMO_DESTINATION,
            "tenant_ars": TENANT_ARS,
            "callback_secret": sb.DEMO_CALLBACK_SECRET,
            "decryption_keys": [str(KEY_DIR / "tangerhuette-enc-2026.jwk.json"),
                                str(KEY_DIR / "tangerhuette-enc-2027.jwk.json")],
            "signing_key": str(KEY_DIR / "tangerhuette-sig-2026.jwk.json"),
            "services": [sb.GEWERBE_ANMELDEN, sb.GEWERBE_ABMELDEN],
            **(destination or {}),
        }],
        "routing": {"url": f"{sandbox_url}/routing/v1", "portal_jwks_url": f"{sandbox_url}/ssp/.well-known/jwks.json",
                    "portal_issuer": sb.SSP_ISSUER},
    }
    options.update(extra)
    return options


def postbox_options(**extra: Any) -> dict[str, Any]:
    """Options of the ``postbox`` reply channel for the sandbox's ZBP bridge (TEST author key)."""
    return {"destination_id": sb.ZBP_DESTINATION, "author_key": str(sb.ZBP_AUTHOR_KEY),
            "author_certificate": str(sb.ZBP_AUTHOR_CERTIFICATE), "sender_name": "Stadt Tangerhütte (TEST)",
            "reply_address": "rathaus@tangerhuette.example", **extra}


REPLY_STANDARD = "urn:x-rathaus-gateway:standard:antwort_1.0"


def fitconnect_reply_channel(standards: list[str] | None = None) -> dict[str, Any]:
    """``replyChannel`` of an application whose online service wants the answer through
    FIT-Connect, encrypted for the demo online service's TEST key (the sandbox decides for it)."""
    jwk = pki.public_jwk(orjson.loads((KEY_DIR / "efa-reply-enc-2026.jwk.json").read_bytes()))
    key = {k: jwk[k] for k in ("kty", "kid", "alg", "n", "e", "key_ops")}
    return {"fitConnect": {"encryptionPublicKey": key, "processStandards": standards or [REPLY_STANDARD]}}


def test_pdf(marker: str, size: int = 4096) -> bytes:
    """A small valid-looking TEST PDF of about ``size`` bytes, unique per ``marker``."""
    head = f"%PDF-1.7\n% Bescheid (TEST) {marker}\n".encode()
    filler = size - len(head) - 6
    return head + b"%" + (b"0123456789abcdef" * (filler // 16 + 1))[:max(filler, 0)] + b"\n%%EOF"


_REFERENCES = itertools.count(secrets.randbelow(900_000))  # unique case references within a process


def make_case(blobs: BlobStore, *, mailbox: str | None = "5f0c2b1e-8d4a-4c7e-9b3f-2a6d8e1c0f47",
              reply_channel: dict[str, str] | None = None, trust_level: str = "substantiell",
              authn_context: str | None = "STORK-QAA-Level-3", references: dict[str, str] | None = None) -> Case:
    """A case as the intake commits one (TEST person), its applicant logged in with BundID."""
    now = dt.datetime.now(dt.UTC)
    original = b'{"TEST": true}'
    account = {"provider": "bundid", "pseudonym": f"bpk2-{uuid.uuid4().hex}", "trust_level": trust_level,
               "postbox_reference": mailbox, "authn_context": authn_context}
    return Case.model_validate({
        "id": str(uuid.uuid4()), "reference": f"TGH-2026-{next(_REFERENCES) % 1_000_000:06d}",
        "tenant": {"ars": TENANT_ARS, "name": "Einheitsgemeinde Stadt Tangerhütte"},
        "service": {"leika": sb.GEWERBE_ANMELDEN, "name": "Gewerbe anmelden", "mapping_id": "fim.gewerbe-anmelden",
                    "mapping_version": 1},
        "source": {"channel": "portal", "id": f"req-{uuid.uuid4()}", "references": references or {}},
        "received_at": now, "routing_queue": "gewerbeamt",
        "applicant": {"party": {"kind": "natural_person", "given_names": "Erika", "family_name": "Beispiel"},
                      "account": account if mailbox is not None or reply_channel is None else None},
        "form": [], "status_history": [{"status": "received", "at": now, "by": "gateway"}],
        "reply_channel": reply_channel,
        "original": {"storage_key": blobs.put(original), "sha512": hashlib.sha512(original).hexdigest(),
                     "media_type": "application/json", "size": len(original)},
    })


def reply_for(case: Case, blobs: BlobStore, recipient: str, *, kind: ReplyKind = "decision",
              documents: list[tuple[str, bytes]] | None = None, title: str = "Bescheid über Ihre Gewerbeanmeldung",
              text: str = "Sehr geehrte Frau Beispiel, Ihre Gewerbeanmeldung wurde bestätigt. (TEST)",
              status: str | None = None, delivery_id: str | None = None) -> OutgoingReply:
    """One delivery of a reply as the core hands it to a reply channel; documents go to ``blobs``."""
    stored = []
    for n, (filename, content) in enumerate(documents or []):
        digest = hashlib.sha512(content).hexdigest()
        stored.append(ReplyDocument(id=f"doc-{n}", filename=filename, media_type="application/pdf",
                                    size=len(content), sha512=digest, storage_key=blobs.put(content, digest)))
    reply_id = str(uuid.uuid4())
    return OutgoingReply(reply_id=reply_id, delivery_id=delivery_id or f"{reply_id}/postbox",
                         kind=kind, title=title, text=text,
                         documents=tuple(stored), case=case, recipient=recipient, status=status)


def sender_api(sandbox_url: str, client: tuple[str, str] = sb.SENDER_CLIENT,
               http: httpx.Client | None = None) -> SubmissionApi:
    http = http or httpx.Client(timeout=30)
    return SubmissionApi(sandbox_url, TokenSource(http, f"{sandbox_url}/token", *client), http)


def efa_sender(sandbox_url: str) -> Outbound:
    """The demo EfA online service's sending side (validates destination keys like any sender)."""
    return Outbound(sender_api(sandbox_url), load_anchors(TRUST_ANCHOR.read_bytes()),
                    jose.FitConnectJWERegistry(256 * 1024 * 1024, 64 * 1024 * 1024))


def application(name: str = "gewerbe-anmelden-fahrradservice", *, attachment: bytes | None = b"%PDF-1.7 TEST",
                destination_id: str = sb.DEMO_DESTINATION, leika: str | None = None,
                schema_uri: str | None = None, data: bytes | None = None, api_version: ApiVersion = "v1",
                metadata_version: str = "1.1.0") -> Application:
    """One of the sample applications in ``fixtures/fitconnect/applications``."""
    abmelden = name.startswith("gewerbe-abmelden")
    attachments = []
    if attachment is not None:
        attachments.append(OutgoingAttachment(attachment_id=str(uuid.uuid4()), filename="nachweis.pdf",
                                              media_type="application/pdf", content=attachment,
                                              description="Nachweis (TEST)"))
    return Application(
        destination_id=destination_id,
        service_name="Gewerbe abmelden" if abmelden else "Gewerbe anmelden",
        leika=leika or (sb.GEWERBE_ABMELDEN if abmelden else sb.GEWERBE_ANMELDEN),
        schema_uri=schema_uri or (sb.SCHEMA_ABMELDEN if abmelden else sb.SCHEMA_ANMELDEN),
        data=data if data is not None else (APPLICATIONS / f"{name}.json").read_bytes(),
        attachments=attachments,
        reply_channel={"eMail": {"address": "antwort@example.org"}},
        sender_reference=f"EFA-{uuid.uuid4().hex[:8]}",
        api_version=api_version, metadata_version=metadata_version,
    )


def send_like_pypi_libraries(sandbox_url: str, app: Application,
                             client: tuple[str, str] = sb.SENDER_CLIENT) -> Created:
    """Send ``app`` the way the FIT-Connect client libraries on PyPI (``fitconnect`` 0.4.2,
    ``fitconnect-client`` 0.1.3) do: Submission API base URL ending in ``/v1``, the key fetched
    without a token and not validated, JWEs with ``zip: DEF`` naming the key by its RFC 7638
    thumbprint, metadata 1.0.0. Plain HTTP, nothing of our own client."""
    api = f"{sandbox_url}/v1"
    answer = httpx.post(f"{sandbox_url}/token", data={"grant_type": "client_credentials", "client_id": client[0],
                                                      "client_secret": client[1]})
    headers = {"Authorization": f"Bearer {answer.raise_for_status().json()['access_token']}"}
    kid = httpx.get(f"{api}/destinations/{app.destination_id}", headers=headers).raise_for_status().json()[
        "encryptionKid"]
    jwk = httpx.get(f"{api}/destinations/{app.destination_id}/keys/{kid}").raise_for_status().json()
    key = RSAKey.import_key({k: jwk[k] for k in ("kty", "n", "e")})
    registry = jose.FitConnectJWERegistry(256 * 1024 * 1024, 64 * 1024 * 1024)

    def encrypt(payload: bytes) -> str:
        header = {"alg": "RSA-OAEP-256", "enc": "A256GCM", "typ": "JWE", "kid": key.thumbprint(), "zip": "DEF",
                  "cty": "application/json"}
        return jwe.encrypt_compact(header, payload, key, registry=registry)

    created = httpx.post(f"{api}/submissions", headers=headers, json={
        "destinationId": app.destination_id, "announcedAttachments": [a.attachment_id for a in app.attachments],
        "serviceType": {"name": "", "identifier": f"urn:de:fim:leika:leistung:{app.leika}"}}).raise_for_status().json()
    for attachment in app.attachments:
        httpx.put(f"{api}/submissions/{created['submissionId']}/attachments/{attachment.attachment_id}",
                  content=encrypt(attachment.content),
                  headers={**headers, "Content-Type": "application/jose"}).raise_for_status()
    metadata = metadata_for(app)
    metadata["$schema"] = "https://schema.fitko.de/fit-connect/metadata/1.0.0/metadata.schema.json"
    httpx.put(f"{api}/submissions/{created['submissionId']}", headers=headers, json={
        "encryptedMetadata": encrypt(orjson.dumps(metadata)), "encryptedData": encrypt(app.data)}).raise_for_status()
    return Created(submission_id=str(created["submissionId"]), case_id=str(created["caseId"]))


def send_like_php_client_v2(sandbox_url: str, app: Application,
                            client: tuple[str, str] = sb.SENDER_CLIENT) -> Created:
    """Send ``app`` the way the PHP client ``optiGov/php-fitconnect`` does (Submission API v2):
    token, ``GET /v2/destinations/{id}/keys`` and its first key, ``POST /v2/submissions`` with
    ``publicService``, each attachment ``PUT`` as ``application/jose``, ``PUT`` metadata 2.1.0 and
    data. Plain HTTP, nothing of our own client."""
    token = httpx.post(f"{sandbox_url}/token", data={"grant_type": "client_credentials", "client_id": client[0],
                                                     "client_secret": client[1]}).raise_for_status().json()
    headers = {"Authorization": f"Bearer {token['access_token']}", "Accept": "application/json"}
    keys = httpx.get(f"{sandbox_url}/v2/destinations/{app.destination_id}/keys", headers=headers)
    jwk = keys.raise_for_status().json()["keys"][0]
    key = RSAKey.import_key({k: jwk[k] for k in ("kty", "n", "e")})
    registry = jose.FitConnectJWERegistry(256 * 1024 * 1024, 64 * 1024 * 1024)

    def encrypt(payload: bytes) -> str:
        return jwe.encrypt_compact({"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": jwk["kid"]}, payload, key,
                                   registry=registry)

    metadata = metadata_for(app.with_transport("v2", "2.1.0"))
    created = httpx.post(f"{sandbox_url}/v2/submissions", headers=headers, json={
        "destinationId": app.destination_id, "announcedAttachments": [a.attachment_id for a in app.attachments],
        "publicService": {"identifier": f"urn:de:fim:leika:leistung:{app.leika}", "name": app.service_name},
    }).raise_for_status().json()
    for attachment in app.attachments:
        httpx.put(f"{sandbox_url}/v2/submissions/{created['submissionId']}/attachments/{attachment.attachment_id}",
                  content=encrypt(attachment.content),
                  headers={**headers, "Content-Type": "application/jose"}).raise_for_status()
    httpx.put(f"{sandbox_url}/v2/submissions/{created['submissionId']}", headers=headers, json={
        "encryptedMetadata": encrypt(orjson.dumps(metadata)), "encryptedData": encrypt(app.data)}).raise_for_status()
    return Created(submission_id=str(created["submissionId"]), case_id=str(created["caseId"]))


class MemoryStateStore:
    """The StateStore port in memory, for unit tests and the benchmark (one process only)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.items: dict[tuple[str, str], tuple[dict[str, object] | None, float | None]] = {}
        self._lock = threading.Lock()

    def _live(self, namespace: str, key: str) -> dict[str, object] | None:
        value, expires = self.items.get((namespace, key), (None, None))
        return value if expires is None or expires > self.clock() else None

    def get(self, namespace: str, key: str) -> dict[str, object] | None:
        with self._lock:
            value = self._live(namespace, key)
            return dict(value) if value is not None else None

    def put(self, namespace: str, key: str, value: dict[str, object], ttl_seconds: float | None = None) -> None:
        with self._lock:
            self.items[(namespace, key)] = (dict(value), None if ttl_seconds is None else self.clock() + ttl_seconds)

    def scan(self, namespace: str, prefix: str) -> list[tuple[str, dict[str, object]]]:
        with self._lock:
            return [(key, dict(value)) for (ns, key) in list(self.items) if ns == namespace and key.startswith(prefix)
                    and (value := self._live(ns, key)) is not None]

    def delete(self, namespace: str, key: str) -> None:
        with self._lock:
            self.items.pop((namespace, key), None)

    def add(self, namespace: str, key: str, value: dict[str, object], ttl_seconds: float | None = None) -> bool:
        with self._lock:
            if self._live(namespace, key) is not None:
                return False
            self.items[(namespace, key)] = (dict(value), None if ttl_seconds is None else self.clock() + ttl_seconds)
            return True


class SandboxEnv:
    """A running sandbox plus what a test needs to drive the channel against it.

    Every wiring made here shares ``state``: two wirings are two gateway processes on one database.
    """

    def __init__(self, url: str, sandbox: Sandbox, tmp: Path, state: StateStore | None = None) -> None:
        self.url, self.sandbox, self.tmp = url, sandbox, tmp
        self.state: StateStore = state if state is not None else MemoryStateStore()
        self.blobs: BlobStore = FilesystemBlobStore(tmp / "blobs")
        self.efa: Outbound = efa_sender(url)

    def wiring(self, **extra: Any) -> plugin.Wiring:
        extra.setdefault("issuer", self.sandbox.config.issuer or self.url)
        return plugin.build(plugin.parse_options(gateway_options(self.url, **extra)), REPO, self.state, self.blobs)

    def fetch_all(self, wiring: plugin.Wiring) -> dict[str, InboundMessage]:
        return {m.source_id: m for m in wiring.source.poll()}

    def events(self, created: Created) -> list[str]:
        return self.sandbox.event_names(created.case_id)

    def listed(self, wiring: plugin.Wiring) -> set[str]:
        dest = wiring.options.destinations[0].id
        return {str(s["submissionId"]) for s in wiring.channel.api.list_submissions(dest, 100)}

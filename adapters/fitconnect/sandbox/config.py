"""Configuration of the local Zustelldienst sandbox: destinations, API clients, SET key.

``demo_config()`` builds the demo set-up from the TEST keys in ``fixtures/fitconnect``:
Stadt Tangerhütte's destination (the gateway subscribes to it) and a Landkreis destination
(target for forwarding). Environment variables adjust it for ``make run``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.fitconnect import zbp
from adapters.fitconnect.pki import public_jwk

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "fitconnect"
KEYS = FIXTURES / "keys"

DEMO_DESTINATION = "d2a3c5e1-7b4f-4e0a-9c61-5f8e2b1d0a11"  # Stadt Tangerhütte (TEST)
LANDKREIS_DESTINATION = "7c1e9a40-2d5b-4f83-b6e2-0a9d4c3f1e22"  # Landkreis (TEST), forwarding target
DEMO_ISSUER = "https://zustelldienst.sandbox.invalid"  # `make run`'s fixed issuer (fixtures/demo/gateway.yaml)
GATEWAY_CLIENT = ("rathaus-gateway-tangerhuette", "sandbox-secret-gateway-0123456789abcdef")
SENDER_CLIENT = ("efa-demo-onlinedienst", "sandbox-secret-sender-0123456789abcdef")
LANDKREIS_CLIENT = ("landkreis-fachverfahren", "sandbox-secret-landkreis-0123456789abcdef")
DEMO_CALLBACK_SECRET = "sandbox-callback-secret-tangerhuette-0123456789"  # noqa: S105 - sandbox TEST value
ZBP_DESTINATION = "4f7b2c9e-1a3d-4e6f-8b05-c2d9e7a1f364"  # the citizen postbox's (ZBP) bridge (TEST)
# the postbox of the citizen-login sandbox's demo citizen Erika (adapters/citizen_login/sandbox/people.py)
DEMO_MAILBOX = "5f0c2b1e-8d4a-4c7e-9b3f-2a6d8e1c0f47"
ZBP_AUTHOR_KEY = FIXTURES / "zbp" / "tangerhuette-author-2026.key.pem"  # Stadt Tangerhütte writing (TEST)
ZBP_AUTHOR_CERTIFICATE = FIXTURES / "zbp" / "tangerhuette-author-2026.cert.pem"
# the issuer of authors' certificates the sandbox postbox trusts (in production the BPKI)
ZBP_AUTHOR_ISSUER = FIXTURES.parent / "pki" / "test-intermediate-ca.pem"

GEWERBE_ANMELDEN = "99050012104000"
GEWERBE_ABMELDEN = "99050012120000"
SCHEMA_ANMELDEN = "https://schema.fitko.de/fim/s00000096_1.0.schema.json"
SCHEMA_ABMELDEN = "https://schema.fitko.de/fim/s00000097_1.0.schema.json"


def load_jwk(name: str) -> dict[str, Any]:
    value = json.loads((KEYS / name).read_text(encoding="utf-8"))
    assert isinstance(value, dict)
    return value


METADATA_VERSIONS = ["1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.5.0", "2.0.0", "2.1.0", "3.0.0"]
SSP_ISSUER = "https://ssp.sandbox.invalid"  # iss of the sandbox Self-Service-Portal's destinationSignature


@dataclass
class SandboxDestination:
    id: str
    keys: list[dict[str, Any]]  # public JWKs (encryption and signature), with x5c
    encryption_kid: str
    services: list[dict[str, Any]]
    status: str = "active"
    metadata_versions: list[str] = field(default_factory=lambda: list(METADATA_VERSIONS))
    callback_url: str | None = None
    callback_secret: str | None = None
    name: str = "TEST destination"


@dataclass
class PostboxConfig:
    """The sandbox's stand-in for the ZBP bridge: the destination it decrypts and decides for,
    the issuers of author certificates it trusts, and the mailboxes that exist (None: every
    well-formed mailbox UUID)."""

    destination_id: str
    decryption_keys: list[dict[str, Any]]  # private JWKs of the destination
    signing_key: dict[str, Any]  # private JWK: signs accept/reject
    author_issuers_pem: bytes
    mailboxes: list[str] | None = None
    token_leeway_seconds: int = 60


@dataclass
class SandboxClient:
    client_id: str
    secret: str
    send: bool = False
    subscribe: list[str] = field(default_factory=list)  # destination ids


@dataclass
class SandboxConfig:
    signing_key: dict[str, Any]  # private JWK of the Zustelldienst's SET key
    destinations: list[SandboxDestination]
    clients: list[SandboxClient]
    token_ttl_seconds: int = 1800
    # one uploaded attachment or fragment (the compact JWE, kept in a file): large enough for the
    # 1 GiB benchmark as one JWE. The real Zustelldienst's limit could not be verified.
    max_attachment_bytes: int = 2 * 1024 * 1024 * 1024
    # ``iss`` of the Zustelldienst's SETs. None: the base URL the sandbox is reached at, as the
    # set-payload schema describes it for the Zustelldienst ("Basis-URL des Zustelldienstes").
    issuer: str | None = None
    # the Self-Service-Portal that signs the Routing API's destinationSignature (private JWK)
    ssp_signing_key: dict[str, Any] = field(default_factory=lambda: load_jwk("ssp-sig.jwk.json"))
    ssp_issuer: str = SSP_ISSUER
    # areas the Routing API's /areas finds: id, name, type (ARS as id)
    areas: list[dict[str, str]] = field(default_factory=lambda: [
        {"id": "15090", "name": "Stendal, Landkreis", "type": "Landkreis"},
        {"id": "150905350535", "name": "Tangerhütte, Stadt", "type": "Gemeinde"}])
    postbox: PostboxConfig | None = None
    # private keys of online services the sandbox answers for: replies encrypted for them are
    # fetched and decided at once (the demo EfA online service's reply key)
    reply_keys: list[dict[str, Any]] = field(default_factory=lambda: [load_jwk("efa-reply-enc-2026.jwk.json")])


def _service(leika: str, schema: str, ars: str = "150905350535") -> dict[str, Any]:
    """A DestinationService of the Submission API: identifier, submissionSchemas, regions ("DE" + ARS)."""
    return {"identifier": f"urn:de:fim:leika:leistung:{leika}",
            "submissionSchemas": [{"schemaUri": schema, "mimeType": "application/json"}],
            "regions": [f"DE{ars}"]}


def demo_config(callback_url: str | None = None, issuer: str | None = None,
                encryption_kid: str = "tangerhuette-enc-2026") -> SandboxConfig:
    tangerhuette = SandboxDestination(
        id=DEMO_DESTINATION,
        keys=[public_jwk(load_jwk(f)) for f in ("tangerhuette-enc-2026.jwk.json", "tangerhuette-enc-2027.jwk.json",
                                                 "tangerhuette-sig-2026.jwk.json")],
        encryption_kid=encryption_kid,
        services=[_service(GEWERBE_ANMELDEN, SCHEMA_ANMELDEN), _service(GEWERBE_ABMELDEN, SCHEMA_ABMELDEN)],
        callback_url=callback_url, callback_secret=DEMO_CALLBACK_SECRET if callback_url else None,
        name="Stadt Tangerhütte (TEST)",
    )
    landkreis = SandboxDestination(
        id=LANDKREIS_DESTINATION,
        keys=[public_jwk(load_jwk(f)) for f in ("landkreis-enc-2026.jwk.json", "landkreis-sig-2026.jwk.json")],
        encryption_kid="landkreis-enc-2026",
        services=[_service(GEWERBE_ANMELDEN, SCHEMA_ANMELDEN, ars="15090")],
        name="Landkreis (TEST)",
    )
    return SandboxConfig(
        issuer=issuer, signing_key=load_jwk("zustelldienst-sig.jwk.json"),
        destinations=[tangerhuette, landkreis, zbp_destination()], postbox=postbox_config(),
        clients=[SandboxClient(*GATEWAY_CLIENT, send=True, subscribe=[DEMO_DESTINATION]),
                 SandboxClient(*SENDER_CLIENT, send=True),
                 SandboxClient(*LANDKREIS_CLIENT, subscribe=[LANDKREIS_DESTINATION])],
    )


def zbp_destination() -> SandboxDestination:
    """The ZBP bridge: services message_v6 and status_v6 nationwide, data schema the envelope's."""
    services = [{"identifier": service, "regions": ["DE"], "submissionSchemas": [
        {"schemaUri": zbp.SCHEMA_URI, "mimeType": "application/json"}]} for service in zbp.SERVICE_NAMES]
    return SandboxDestination(
        id=ZBP_DESTINATION, keys=[public_jwk(load_jwk(f)) for f in ("zbp-enc-2026.jwk.json", "zbp-sig-2026.jwk.json")],
        encryption_kid="zbp-enc-2026", services=services, name="Zentrales Bürgerpostfach, FIT-Connect-Brücke (TEST)")


def postbox_config(mailboxes: list[str] | None = None) -> PostboxConfig:
    return PostboxConfig(destination_id=ZBP_DESTINATION, decryption_keys=[load_jwk("zbp-enc-2026.jwk.json")],
                         signing_key=load_jwk("zbp-sig-2026.jwk.json"),
                         author_issuers_pem=ZBP_AUTHOR_ISSUER.read_bytes(), mailboxes=mailboxes)


def config_from_env() -> SandboxConfig:
    """``FITCONNECT_SANDBOX_CALLBACK_URL`` (the gateway's callback URL for the demo destination)
    and ``FITCONNECT_SANDBOX_ISSUER`` adjust the demo set-up. The issuer defaults to
    :data:`DEMO_ISSUER`, which the demo gateway configuration expects; set the variable to an
    empty value to sign with the sandbox's own base URL, as the real Zustelldienst does."""
    issuer = os.environ.get("FITCONNECT_SANDBOX_ISSUER", DEMO_ISSUER)
    return demo_config(callback_url=os.environ.get("FITCONNECT_SANDBOX_CALLBACK_URL"), issuer=issuer or None)

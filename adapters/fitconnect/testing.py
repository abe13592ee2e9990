"""Helpers for tests, the benchmark and the demo: TEST configuration against the sandbox.

Everything here uses the TEST keys from ``fixtures/`` and must never configure production.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx

from adapters.fitconnect import jose, plugin
from adapters.fitconnect.api import SubmissionApi, TokenSource
from adapters.fitconnect.keycheck import load_anchors
from adapters.fitconnect.outbound import Application, Created, Outbound, OutgoingAttachment
from adapters.fitconnect.sandbox import config as sb
from adapters.fitconnect.sandbox.state import Sandbox
from gateway.ports import InboundMessage

REPO = Path(__file__).resolve().parents[2]
APPLICATIONS = REPO / "fixtures" / "fitconnect" / "applications"
TRUST_ANCHOR = REPO / "fixtures" / "pki" / "test-root-ca.pem"
KEY_DIR = REPO / "fixtures" / "fitconnect" / "keys"
TENANT_ARS = "150905350535"


def gateway_options(sandbox_url: str, state_file: Path, *, poll_interval: float = 0.001,
                    issuer: str = sb.DEMO_ISSUER, **extra: Any) -> dict[str, Any]:
    """Adapter options for a gateway subscribed to the sandbox's demo destination (Tangerhütte)."""
    options: dict[str, Any] = {
        "token_url": f"{sandbox_url}/token",
        "submission_api_url": sandbox_url,
        "client_id": sb.GATEWAY_CLIENT[0],
        "client_secret": sb.GATEWAY_CLIENT[1],
        "trust_anchor": str(TRUST_ANCHOR),
        "zustelldienst_issuer": issuer,
        "poll_interval_seconds": poll_interval,
        "sender_state_file": str(state_file),
        "destinations": [{
            "id": sb.DEMO_DESTINATION,
            "tenant_ars": TENANT_ARS,
            "callback_secret": sb.DEMO_CALLBACK_SECRET,
            "decryption_keys": [str(KEY_DIR / "tangerhuette-enc-2026.jwk.json"),
                                str(KEY_DIR / "tangerhuette-enc-2027.jwk.json")],
            "signing_key": str(KEY_DIR / "tangerhuette-sig-2026.jwk.json"),
            "services": [sb.GEWERBE_ANMELDEN, sb.GEWERBE_ABMELDEN],
        }],
    }
    options.update(extra)
    return options


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
                schema_uri: str | None = None, data: bytes | None = None) -> Application:
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
    )


class SandboxEnv:
    """A running sandbox plus what a test needs to drive the channel against it."""

    def __init__(self, url: str, sandbox: Sandbox, tmp: Path) -> None:
        self.url, self.sandbox, self.tmp = url, sandbox, tmp
        self.efa: Outbound = efa_sender(url)

    def wiring(self, **extra: Any) -> plugin.Wiring:
        options = plugin.parse_options(gateway_options(self.url, self.tmp / "sender.json", **extra))
        return plugin.build(options, REPO)

    def fetch_all(self, wiring: plugin.Wiring) -> dict[str, InboundMessage]:
        return {m.source_id: m for m in wiring.source.poll()}

    def events(self, created: Created) -> list[str]:
        return self.sandbox.event_names(created.case_id)

    def listed(self, wiring: plugin.Wiring) -> set[str]:
        dest = wiring.options.destinations[0].id
        return {str(s["submissionId"]) for s in wiring.channel.api.list_submissions(dest, 100)}

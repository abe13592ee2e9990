"""Helpers for tests, the benchmark and the demo: TEST configuration against the sandbox.

Everything here uses the TEST keys from ``fixtures/`` and must never configure production.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from adapters.fitconnect import jose, plugin
from adapters.fitconnect.api import SubmissionApi
from adapters.fitconnect.keycheck import load_anchors
from adapters.fitconnect.outbound import Application, Created, Outbound, OutgoingAttachment
from adapters.fitconnect.sandbox import config as sb
from adapters.fitconnect.sandbox.state import Sandbox
from adapters.fitconnect.tokens import TokenSource
from gateway.ports import InboundMessage, StateStore

REPO = Path(__file__).resolve().parents[2]
APPLICATIONS = REPO / "fixtures" / "fitconnect" / "applications"
TRUST_ANCHOR = REPO / "fixtures" / "pki" / "test-root-ca.pem"
KEY_DIR = REPO / "fixtures" / "fitconnect" / "keys"
TENANT_ARS = "150905350535"


def gateway_options(sandbox_url: str, *, poll_interval: float = 0.001,
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

    def put(self, namespace: str, key: str, value: dict[str, object]) -> None:
        with self._lock:
            self.items[(namespace, key)] = (dict(value), None)

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
        self.efa: Outbound = efa_sender(url)

    def wiring(self, **extra: Any) -> plugin.Wiring:
        return plugin.build(plugin.parse_options(gateway_options(self.url, **extra)), REPO, self.state)

    def fetch_all(self, wiring: plugin.Wiring) -> dict[str, InboundMessage]:
        return {m.source_id: m for m in wiring.source.poll()}

    def events(self, created: Created) -> list[str]:
        return self.sandbox.event_names(created.case_id)

    def listed(self, wiring: plugin.Wiring) -> set[str]:
        dest = wiring.options.destinations[0].id
        return {str(s["submissionId"]) for s in wiring.channel.api.list_submissions(dest, 100)}

"""Demo EfA sender for ``make run``: submits a few applications to Tangerhütte's destination
in the sandbox and prints how each one ends in the event log (accepted by the gateway).

The gateway must run with the FIT-Connect adapter configured for the sandbox, e.g. with
:func:`demo_gateway_options`; the sandbox calls it back at
``<gateway>/v1/channels/fitconnect/callbacks/<destinationId>`` when started with
``FITCONNECT_SANDBOX_CALLBACK_URL`` set, and the gateway's polling picks up the rest.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from adapters.fitconnect.events import STATUS_BY_EVENT, unverified_claims
from adapters.fitconnect.outbound import Created
from adapters.fitconnect.sandbox import config as sb
from adapters.fitconnect.testing import application, efa_sender, gateway_options, sender_api

DEMO_APPLICATIONS = ["gewerbe-anmelden-fahrradservice", "gewerbe-anmelden-gmbh", "gewerbe-abmelden-kiosk"]


def demo_gateway_options(sandbox_url: str, data_dir: Path) -> dict[str, Any]:
    """FIT-Connect adapter options for a gateway run against the sandbox (TEST keys)."""
    return gateway_options(sandbox_url, data_dir / "fitconnect-sender.json", poll_interval=5.0)


def callback_url(gateway_url: str) -> str:
    return f"{gateway_url.rstrip('/')}/v1/channels/fitconnect/callbacks/{sb.DEMO_DESTINATION}"


def _status(sandbox_url: str, created: Created) -> str:
    status = "unknown"
    for token in sender_api(sandbox_url).get_events(created.case_id):
        claims = unverified_claims(token)  # display only; the gateway verifies signatures
        if claims.get("sub") == f"submission:{created.submission_id}":
            for uri in claims.get("events", {}):
                status = STATUS_BY_EVENT.get(uri.rsplit("/", 1)[-1], status)
    return status


def run(gateway_url: str, sandbox_urls: dict[str, str], wait_seconds: float = 60.0) -> None:
    sandbox_url = sandbox_urls["fitconnect"].rstrip("/")
    sender = efa_sender(sandbox_url)
    sent = []
    for name in DEMO_APPLICATIONS:
        created = sender.send(application(name))
        sent.append((name, created))
        print(f"FIT-Connect demo: submitted {name} as submission {created.submission_id}")
    deadline = time.monotonic() + wait_seconds
    pending = dict(sent)
    while pending and time.monotonic() < deadline:
        for name, created in list(pending.items()):
            status = _status(sandbox_url, created)
            if status in ("accepted", "rejected"):
                print(f"FIT-Connect demo: {name}: {status} (event log of case {created.case_id})")
                del pending[name]
        time.sleep(1.0)
    for name in pending:
        print(f"FIT-Connect demo: {name}: no decision within {wait_seconds:.0f}s (is the gateway polling "
              f"{sandbox_url}?)")

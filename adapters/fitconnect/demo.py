"""Demo EfA sender for ``make run``: submits a few applications to Tangerhütte's destination
in the sandbox and prints how each one ends in the event log (accepted by the gateway): three
as an EfA service on Submission API v1 with metadata 1.1.0 sends them, and one as a current
client does -- Submission API v2, metadata 3.0.0, the building plans in fragments.

The gateway must run with the FIT-Connect adapter configured for the sandbox (as in
``fixtures/demo/gateway.yaml``); the sandbox calls it back at
``<gateway>/v1/channels/fitconnect/callbacks/<destinationId>`` when started with
``FITCONNECT_SANDBOX_CALLBACK_URL`` set, and the gateway's polling picks up the rest. The v2
submission names the demo citizen's BundID postbox as its reply channel: a decision on it goes
through the ``postbox`` reply channel to ``<sandbox>/postbox/<mailbox>``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
import uuid

from adapters.fitconnect.events import STATUS_BY_EVENT, unverified_claims
from adapters.fitconnect.outbound import Application, Created, OutgoingAttachment
from adapters.fitconnect.sandbox.config import DEMO_MAILBOX
from adapters.fitconnect.testing import application, efa_sender, sender_api

DEMO_APPLICATIONS = ["gewerbe-anmelden-fahrradservice", "gewerbe-anmelden-gmbh", "gewerbe-abmelden-kiosk"]
FRAGMENT_BYTES = 256 * 1024


def current_client_application() -> Application:
    """Gewerbe anmelden as a current client sends it: API v2, metadata 3.0.0, plans in fragments,
    the answer wanted in the demo citizen's BundID postbox."""
    # TEST content, made up here: 700 KB, so the plans travel as three fragments
    plans = b"%PDF-1.7 TEST Lageplan\n" + b"".join(hashlib.sha512(str(n).encode()).digest() for n in range(11_000))
    app = application("gewerbe-anmelden-gmbh", api_version="v2", metadata_version="3.0.0")
    plans_attachment = OutgoingAttachment(attachment_id=str(uuid.uuid4()), filename="lageplan.pdf",
                                          media_type="application/pdf", content=plans, description="Lageplan (TEST)",
                                          fragment_bytes=FRAGMENT_BYTES)
    return dataclasses.replace(app, reply_channel={"idBundMailbox": {"mailboxUuid": DEMO_MAILBOX}},
                               attachments=[*app.attachments, plans_attachment])


def _status(sandbox_url: str, created: Created) -> str:
    status = "unknown"
    for token in sender_api(sandbox_url).get_events(created.case_id, created.submission_id):
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
    current = sender.send(current_client_application())
    sent.append(("gewerbe-anmelden-gmbh (API v2, metadata 3.0.0, plans in fragments)", current))
    print(f"FIT-Connect demo: submitted a v2 submission with metadata 3.0.0 and a fragmented attachment as "
          f"submission {current.submission_id}; its answer goes to the citizen postbox "
          f"{sandbox_url}/postbox/{DEMO_MAILBOX}")
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

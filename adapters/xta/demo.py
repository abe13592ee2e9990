"""Demo sender for ``make run``: the state portal posts a few XÖV messages for the demo
municipality into the XTA sandbox; the gateway's XTA source then fetches them.

``run(gateway_url, sandbox_urls)`` only talks to the sandbox (``sandbox_urls["xta"]``); the
gateway must be configured with an ``xta`` adapter pointing at the same sandbox.
"""

from __future__ import annotations

import hashlib

import httpx

from adapters.xta import samples
from adapters.xta.client import Content, XtaClient


def _attachment(name: str) -> Content:
    # A small, recognisable stand-in for a scanned document (TEST DATA).
    body = b"%PDF-1.4\n% Rathaus-Gateway demo attachment " + name.encode() + b"\n" + \
        hashlib.sha512(name.encode()).hexdigest().encode() * 64 + b"\n%%EOF\n"
    return Content(body, "application/pdf", name, "Nachweis (Demo)")


def run(gateway_url: str, sandbox_urls: dict[str, str]) -> None:
    base = sandbox_urls["xta"]
    with httpx.Client(timeout=30) as http:
        portal = XtaClient(base, samples.STATE_PORTAL, http)
        for kind in (samples.WOHNGELD, samples.GEWERBE):
            for fixture in kind.fixtures():
                attachments = [_attachment(f"{fixture.stem.removesuffix('.input')}-nachweis.pdf")]
                message_id = samples.post(portal, kind, fixture.read_bytes(), attachments,
                                          subject=kind.service.rsplit(":", 2)[-2])
                print(f"  sent {kind.code:<30} {fixture.name:<40} {message_id}")
        print(f"  the gateway fetches them from the mailbox {samples.TOWN.value} and closes each after commit;")
        print(f"  mailbox state: {base}/sandbox/messages")

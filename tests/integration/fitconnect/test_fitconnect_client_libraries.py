"""The request pattern of the FIT-Connect client libraries on PyPI, replayed against the sandbox.

``fitconnect`` (0.4.2) and ``fitconnect-client`` (0.1.3) configure a Submission API base URL
that ends in ``/v1`` and a separate token URL; they fetch the destination key without a
token, encrypt with ``zip: DEF`` and name the key by its RFC 7638 thumbprint, send a service
name that may be empty, and list submissions without a ``destinationId``. The libraries are
not dependencies of this project (see the README for the manual run against them);
:func:`~adapters.fitconnect.testing.send_like_pypi_libraries` replays what they send, with
plain HTTP, and the gateway's channel has to get along with it.
"""

from __future__ import annotations

import httpx

from adapters.fitconnect import jose, testing
from adapters.fitconnect.sandbox.config import GATEWAY_CLIENT
from adapters.fitconnect.testing import SandboxEnv


def test_a_submission_sent_as_the_pypi_libraries_send_it_is_verified(env: SandboxEnv) -> None:
    app = testing.application("gewerbe-anmelden-fahrradservice")
    created = testing.send_like_pypi_libraries(env.url, app)
    kid = jose.jwe_header(env.sandbox.submissions[created.submission_id].encrypted_metadata or "")["kid"]
    assert kid not in {"tangerhuette-enc-2026", "tangerhuette-enc-2027"}  # a thumbprint, not the kid

    # fitconnect 0.4.2's subscriber side lists without a destinationId, under the /v1 base URL
    answer = httpx.post(f"{env.url}/token", data={"grant_type": "client_credentials", "client_id": GATEWAY_CLIENT[0],
                                                  "client_secret": GATEWAY_CLIENT[1]})
    bearer = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    listed = httpx.get(f"{env.url}/v1/submissions", headers=bearer)
    assert created.submission_id in {s["submissionId"] for s in listed.json()["submissions"]}

    wiring = env.wiring()
    message = env.fetch_all(wiring)[created.submission_id]
    verified = wiring.channel.verify(message)  # thumbprint kids and compressed content decrypt
    assert verified.data == app.data
    assert [env.blobs.get(a.stored.key) for a in verified.attachments if a.stored] == [app.attachments[0].content]
    assert verified.references["metadataVersion"] == "1.0.0"

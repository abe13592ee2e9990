"""The sandbox enforces the Zustelldienst's rules and answers RFC 7807 problems."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import httpx
import pytest

from adapters.fitconnect import testing
from adapters.fitconnect.api import RemoteNotFound, RemoteRefused
from adapters.fitconnect.sandbox.config import DEMO_DESTINATION, SENDER_CLIENT
from adapters.fitconnect.sandbox.state import PROBLEM_BASE
from adapters.fitconnect.testing import SandboxEnv


def problem_type(error: pytest.ExceptionInfo[RemoteRefused] | pytest.ExceptionInfo[RemoteNotFound]) -> str:
    return str(error.value.extensions["problem_type"]).removeprefix(PROBLEM_BASE)


def test_token_endpoint_is_form_encoded_client_credentials(env: SandboxEnv) -> None:
    ok = httpx.post(f"{env.url}/token", data={"grant_type": "client_credentials", "client_id": SENDER_CLIENT[0],
                                             "client_secret": SENDER_CLIENT[1]})
    assert ok.status_code == 200 and ok.json()["token_type"] == "Bearer" and ok.json()["expires_in"] <= 1800
    assert ok.headers["cache-control"] == "no-store"
    # errors as OAuth 2.0 defines them (RFC 6749 section 5.2), not as RFC 7807 problems
    bad = httpx.post(f"{env.url}/token", data={"grant_type": "client_credentials", "client_id": SENDER_CLIENT[0],
                                              "client_secret": "wrong"})
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    grant = httpx.post(f"{env.url}/token", data={"grant_type": "password", "client_id": SENDER_CLIENT[0],
                                                "client_secret": SENDER_CLIENT[1]})
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"
    assert httpx.get(f"{env.url}/v1/destinations/{DEMO_DESTINATION}").status_code == 401


def test_token_endpoint_accepts_http_basic_and_checks_scopes(env: SandboxEnv) -> None:
    basic = httpx.post(f"{env.url}/token", data={"grant_type": "client_credentials"}, auth=SENDER_CLIENT)
    assert basic.status_code == 200 and basic.json()["scope"] == "send:region:DE"
    wrong = httpx.post(f"{env.url}/token", data={"grant_type": "client_credentials"}, auth=(SENDER_CLIENT[0], "x"))
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith("Basic")
    scope = httpx.post(f"{env.url}/token", data={"grant_type": "client_credentials", "scope": "subscribe:destination:"
                                                 + DEMO_DESTINATION}, auth=SENDER_CLIENT)
    assert scope.status_code == 400 and scope.json()["error"] == "invalid_scope"


def test_no_submit_before_all_announced_attachments(env: SandboxEnv) -> None:
    app = testing.application()
    created = env.efa.create(app)
    with pytest.raises(RemoteRefused) as caught:
        env.efa.api.submit(created.submission_id, {"encryptedMetadata": "a.b.c.d.e", "encryptedData": "a.b.c.d.e"})
    assert caught.value.extensions["status_code"] == 422 and problem_type(caught) == "missing-attachments"
    with pytest.raises(RemoteRefused) as unannounced:  # the API answers 422 for an attachment not announced
        env.efa.api.upload_attachment(created.submission_id, str(uuid.uuid4()), "a.b.c.d.e")
    assert unannounced.value.extensions["status_code"] == 422


def test_only_active_destinations_accept_submissions(env: SandboxEnv) -> None:
    destination = env.sandbox.destinations[DEMO_DESTINATION]
    destination.status = "inactive"
    try:
        with pytest.raises(RemoteRefused) as caught:
            env.efa.create(testing.application())
        assert problem_type(caught) == "destination-state-invalid"
    finally:
        destination.status = "active"
    with pytest.raises(RemoteNotFound) as missing:
        env.efa.create(testing.application(destination_id=str(uuid.uuid4())))
    assert problem_type(missing) == "destination-not-found"


def test_destination_and_key_documents(env: SandboxEnv) -> None:
    destination = env.efa.api.get_destination(DEMO_DESTINATION)
    assert destination["status"] == "active" and "1.0.0" in destination["metadataVersions"]
    key = env.efa.api.get_destination_key(DEMO_DESTINATION, destination["encryptionKid"])
    assert key["key_ops"] == ["wrapKey"] and key["alg"] == "RSA-OAEP-256" and key["x5c"] and "d" not in key
    jwks = httpx.get(f"{env.url}/.well-known/jwks.json").json()
    assert [k["alg"] for k in jwks["keys"]] == ["PS512"] and "d" not in jwks["keys"][0]


def test_decided_submissions_leave_the_list_and_cannot_be_decided_twice(env: SandboxEnv) -> None:
    created = env.efa.send(testing.application())
    wiring = env.wiring()
    message = env.fetch_all(wiring)[created.submission_id]
    wiring.channel.verify(message)
    case = SimpleNamespace(reference="TGH-2026-000001")
    wiring.channel.acknowledge(message, case)  # type: ignore[arg-type]
    assert created.submission_id not in env.listed(wiring)
    # A second accept posted behind the channel's back is refused by the Zustelldienst.
    wiring.channel._decision = lambda bundle: None  # type: ignore[method-assign]
    with pytest.raises(RemoteRefused) as caught:
        wiring.channel.acknowledge(message, case)  # type: ignore[arg-type]
    assert caught.value.extensions["status_code"] == 409
    assert env.events(created).count("accept-submission") == 1

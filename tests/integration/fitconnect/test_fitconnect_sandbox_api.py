"""The sandbox speaks the published Submission API (OpenAPI 1.1.x) to a plain HTTP client.

Each test drives the sandbox the way a FIT-Connect client library does, with nothing but
HTTP, and checks what the API document prescribes: paths, status codes, content types,
field names, paging, who may see what.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from adapters.fitconnect import jose, testing
from adapters.fitconnect.callback import callback_signature
from adapters.fitconnect.events import SET_PAYLOAD_SCHEMA, unverified_claims
from adapters.fitconnect.outbound import Created
from adapters.fitconnect.sandbox.callbacks import NEW_EVENTS_TYPE
from adapters.fitconnect.sandbox.config import (
    DEMO_DESTINATION,
    GATEWAY_CLIENT,
    GEWERBE_ANMELDEN,
    LANDKREIS_CLIENT,
    LANDKREIS_DESTINATION,
    SENDER_CLIENT,
)
from adapters.fitconnect.testing import SandboxEnv
from tests.support.servers import serve_app

JWE = "eyJhbGciOiJSU0EtT0FFUC0yNTYifQ.a2V5.aXY.Y2lwaGVy.dGFn"
SERVICE = {"name": "Gewerbe anmelden", "identifier": f"urn:de:fim:leika:leistung:{GEWERBE_ANMELDEN}"}
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def bearer(env: SandboxEnv, client: tuple[str, str]) -> dict[str, str]:
    answer = httpx.post(f"{env.url}/token", data={"grant_type": "client_credentials", "client_id": client[0],
                                                  "client_secret": client[1]})
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def create(env: SandboxEnv, headers: dict[str, str], **extra: Any) -> httpx.Response:
    body = {"destinationId": DEMO_DESTINATION, "announcedAttachments": [], "serviceType": SERVICE, **extra}
    return httpx.post(f"{env.url}/v1/submissions", json=body, headers=headers)


def raw_submission(env: SandboxEnv, headers: dict[str, str], attachment: str | None = None,
                   **extra: Any) -> dict[str, Any]:
    """create, upload, submit as a client library does it; the submit answer."""
    created = create(env, headers, announcedAttachments=[attachment] if attachment else [], **extra)
    assert created.status_code == 201, created.text
    sid = created.json()["submissionId"]
    if attachment:
        upload = httpx.put(f"{env.url}/v1/submissions/{sid}/attachments/{attachment}", content=JWE,
                           headers={**headers, "Content-Type": "application/jose"})
        assert upload.status_code == 204
    submitted = httpx.put(f"{env.url}/v1/submissions/{sid}", json={"encryptedMetadata": JWE}, headers=headers)
    assert submitted.status_code == 202, submitted.text
    return dict(submitted.json())


def test_create_answers_201_with_the_three_ids_and_submit_202_with_the_reduced_submission(env: SandboxEnv) -> None:
    sender = bearer(env, SENDER_CLIENT)
    attachment = str(uuid.uuid4())
    created = create(env, sender, announcedAttachments=[attachment])
    assert created.status_code == 201 and set(created.json()) == {"destinationId", "submissionId", "caseId"}
    sid = created.json()["submissionId"]
    wrong_type = httpx.put(f"{env.url}/v1/submissions/{sid}", content=b'{"encryptedMetadata": "x"}',
                           headers={**sender, "Content-Type": "text/plain"})
    assert wrong_type.status_code == 415
    assert wrong_type.headers["content-type"] == "application/problem+json"
    httpx.put(f"{env.url}/v1/submissions/{sid}/attachments/{attachment}", content=JWE,
              headers={**sender, "Content-Type": "application/jose"})
    submitted = httpx.put(f"{env.url}/v1/submissions/{sid}", json={"encryptedMetadata": JWE}, headers=sender)
    assert submitted.status_code == 202
    assert submitted.json() == {"destinationId": DEMO_DESTINATION, "submissionId": sid,
                                "caseId": created.json()["caseId"], "attachments": [attachment],
                                "serviceType": SERVICE}


def test_create_validates_the_request_as_the_api_describes_it(env: SandboxEnv) -> None:
    sender = bearer(env, SENDER_CLIENT)
    no_list = httpx.post(f"{env.url}/v1/submissions", json={"destinationId": DEMO_DESTINATION,
                                                            "serviceType": SERVICE}, headers=sender)
    assert no_list.status_code == 400  # announcedAttachments is required (may be empty)
    assert create(env, sender, serviceType={"name": "x", "identifier": "Gewerbe"}).status_code == 400
    assert create(env, sender, callback={"url": "http://example.org/cb", "secret": "s" * 32}).status_code == 400
    assert create(env, sender, callback={"url": "https://example.org/cb", "secret": "short"}).status_code == 400
    assert create(env, sender, callback={"url": "https://example.org/cb", "secret": "s" * 32}).status_code == 201
    assert create(env, sender, somethingNew={"a": 1}).status_code == 201  # unknown members are ignored
    upper = str(uuid.uuid4()).upper()
    created = create(env, sender, announcedAttachments=[upper])
    assert created.status_code == 201
    assert env.sandbox.submissions[created.json()["submissionId"]].announced == [upper.lower()]
    form = httpx.post(f"{env.url}/v1/submissions", data={"destinationId": DEMO_DESTINATION}, headers=sender)
    assert form.status_code == 415


def test_only_the_creating_sender_uploads_and_submits(env: SandboxEnv) -> None:
    sender, other = bearer(env, SENDER_CLIENT), bearer(env, GATEWAY_CLIENT)  # both may send
    attachment = str(uuid.uuid4())
    sid = create(env, sender, announcedAttachments=[attachment]).json()["submissionId"]
    upload = httpx.put(f"{env.url}/v1/submissions/{sid}/attachments/{attachment}", content=JWE,
                       headers={**other, "Content-Type": "application/jose"})
    assert upload.status_code == 403
    assert httpx.put(f"{env.url}/v1/submissions/{sid}", json={"encryptedMetadata": JWE},
                     headers=other).status_code == 403
    not_jwe = httpx.put(f"{env.url}/v1/submissions/{sid}/attachments/{attachment}", content="plain text",
                        headers={**sender, "Content-Type": "application/jose"})
    assert not_jwe.status_code == 400


def test_listing_without_destination_id_covers_every_subscribed_destination(env: SandboxEnv) -> None:
    reduced = raw_submission(env, bearer(env, SENDER_CLIENT))
    gateway = bearer(env, GATEWAY_CLIENT)
    listed = httpx.get(f"{env.url}/v1/submissions", headers=gateway)
    assert listed.status_code == 200
    page = listed.json()
    assert set(page) == {"count", "offset", "totalCount", "submissions"} and page["offset"] == 0
    assert {"destinationId": DEMO_DESTINATION, "submissionId": reduced["submissionId"],
            "caseId": reduced["caseId"]} in page["submissions"]
    landkreis = httpx.get(f"{env.url}/v1/submissions", headers=bearer(env, LANDKREIS_CLIENT)).json()
    assert reduced["submissionId"] not in {s["submissionId"] for s in landkreis["submissions"]}
    foreign = httpx.get(f"{env.url}/v1/submissions", params={"destinationId": LANDKREIS_DESTINATION},
                        headers=gateway)
    assert foreign.status_code == 403
    second = httpx.get(f"{env.url}/v1/submissions", params={"limit": 1, "offset": 1}, headers=gateway).json()
    assert second["count"] <= 1 and second["offset"] == 1 and second["totalCount"] == page["totalCount"]
    for bad in ({"limit": 0}, {"limit": 501}, {"offset": -1}):
        answer = httpx.get(f"{env.url}/v1/submissions", params=bad, headers=gateway)
        assert answer.status_code == 400 and answer.headers["content-type"] == "application/problem+json"


def test_event_log_is_paged_and_only_for_the_case_s_participants(env: SandboxEnv) -> None:
    sender = bearer(env, SENDER_CLIENT)
    case = raw_submission(env, sender)["caseId"]
    full = httpx.get(f"{env.url}/v1/cases/{case}/events", headers=sender).json()
    assert full["count"] == 2 and full["offset"] == 0 and full["totalCount"] == 2
    second = httpx.get(f"{env.url}/v1/cases/{case}/events", params={"limit": 1, "offset": 1}, headers=sender).json()
    assert second == {"count": 1, "offset": 1, "totalCount": 2, "eventLog": full["eventLog"][1:]}
    assert httpx.get(f"{env.url}/v1/cases/{case}/events", headers=bearer(env, GATEWAY_CLIENT)).status_code == 200
    outsider = httpx.get(f"{env.url}/v1/cases/{case}/events", headers=bearer(env, LANDKREIS_CLIENT))
    assert outsider.status_code == 403
    assert httpx.get(f"{env.url}/v1/cases/{uuid.uuid4()}/events", headers=sender).status_code == 404


def test_sets_of_the_zustelldienst_carry_its_base_url_as_issuer(env: SandboxEnv) -> None:
    sender = bearer(env, SENDER_CLIENT)
    case = raw_submission(env, sender)["caseId"]
    for token in httpx.get(f"{env.url}/v1/cases/{case}/events", headers=sender).json()["eventLog"]:
        header, claims = jose.set_header(token), unverified_claims(token)
        assert header == {"typ": "secevent+jwt", "alg": "PS512", "kid": env.sandbox.signing.kid}
        assert claims["iss"] == env.url and claims["$schema"] == SET_PAYLOAD_SCHEMA
        assert claims["txn"] == f"case:{case}" and UUID_RE.match(claims["jti"])


def test_destination_and_keys_as_the_api_documents_them(env: SandboxEnv) -> None:
    answer = httpx.get(f"{env.url}/v1/destinations/{DEMO_DESTINATION}", headers=bearer(env, SENDER_CLIENT))
    assert answer.headers["cache-control"] == "no-cache"
    destination = answer.json()
    assert {"destinationId", "status", "services", "encryptionKid", "metadataVersions"} <= set(destination)
    for service in destination["services"]:
        assert set(service) == {"identifier", "submissionSchemas", "regions"}
        assert all(re.fullmatch(r"DE[0-9]{0,12}", region) for region in service["regions"])
        assert all(set(s) == {"schemaUri", "mimeType"} for s in service["submissionSchemas"])
    # public keys need no token (the operation has no security requirement)
    key = httpx.get(f"{env.url}/v1/destinations/{DEMO_DESTINATION}/keys/{destination['encryptionKid']}")
    assert key.status_code == 200 and key.headers["cache-control"] == "no-cache"
    assert {"kty", "key_ops", "alg", "x5c", "kid", "n", "e"} <= set(key.json()) and len(key.json()["n"]) >= 683
    assert httpx.get(f"{env.url}/v1/info").json()["version"]["major"] == 1


def test_a_decided_submission_can_no_longer_be_fetched(env: SandboxEnv) -> None:
    created = env.efa.send(testing.application())
    wiring = env.wiring()
    message = env.fetch_all(wiring)[created.submission_id]
    wiring.channel.verify(message)
    attachment = env.sandbox.submissions[created.submission_id].announced[0]
    wiring.channel.acknowledge(message, type("Case", (), {"reference": "TGH-1"})())
    gateway = bearer(env, GATEWAY_CLIENT)
    assert httpx.get(f"{env.url}/v1/submissions/{created.submission_id}", headers=gateway).status_code == 404
    assert httpx.get(f"{env.url}/v1/submissions/{created.submission_id}/attachments/{attachment}",
                     headers=gateway).status_code == 404


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    received: list[tuple[dict[str, str], bytes]] = []
    app = FastAPI()

    @app.post("/callbacks/fit-connect")
    async def take(request: Request) -> dict[str, str]:
        received.append((dict(request.headers), await request.body()))
        return {}

    with serve_app(app) as url:
        yield f"{url}/callbacks/fit-connect", received


def test_sender_is_called_back_with_new_events_after_the_decision(
        env: SandboxEnv, receiver: tuple[str, list[tuple[dict[str, str], bytes]]]) -> None:
    url, received = receiver
    secret = "sender-callback-secret-0123456789abcdef"
    app = testing.application()
    ids = env.efa.api.create_submission({  # as Outbound.create, plus the sender's callback
        "destinationId": app.destination_id, "announcedAttachments": [a.attachment_id for a in app.attachments],
        "serviceType": SERVICE, "callback": {"url": url, "secret": secret}})
    created = Created(submission_id=ids["submissionId"], case_id=ids["caseId"])
    env.efa.upload_and_submit(app, created)
    assert not received  # nothing for the sender before the destination decided
    wiring = env.wiring()
    message = env.fetch_all(wiring)[created.submission_id]
    wiring.channel.verify(message)
    wiring.channel.acknowledge(message, type("Case", (), {"reference": "TGH-2"})())
    deadline = time.monotonic() + 10
    while not received and time.monotonic() < deadline:
        time.sleep(0.05)
    headers, body = received[0]
    assert headers["callback-authentication"] == callback_signature(secret, headers["callback-timestamp"], body)
    value = httpx.Response(200, content=body).json()
    assert value["type"] == NEW_EVENTS_TYPE and value["submissionIds"] == [created.submission_id]
    assert value["submissions"] == [{"destinationId": DEMO_DESTINATION, "submissionId": created.submission_id,
                                     "caseId": created.case_id}]


# -- Submission API v2 beside v1 -----------------------------------------------------------------


def test_v2_serves_the_same_operations_with_its_own_names(env: SandboxEnv) -> None:
    sender, subscriber = bearer(env, SENDER_CLIENT), bearer(env, GATEWAY_CLIENT)
    destination = httpx.get(f"{env.url}/v2/destinations/{DEMO_DESTINATION}", headers=sender).json()
    assert {"destinationId", "name", "status", "publicServices", "encryptionKid",
            "metadataVersions"} <= set(destination)
    assert "services" not in destination and "3.0.0" in destination["metadataVersions"]
    keys = httpx.get(f"{env.url}/v2/destinations/{DEMO_DESTINATION}/keys", headers=sender).json()["keys"]
    assert keys[0]["kid"] == destination["encryptionKid"]
    attachment = str(uuid.uuid4())
    created = httpx.post(f"{env.url}/v2/submissions", headers=sender, json={
        "destinationId": DEMO_DESTINATION, "announcedAttachments": [attachment], "publicService": SERVICE})
    assert created.status_code == 201, created.text
    sid = created.json()["submissionId"]
    assert httpx.post(f"{env.url}/v2/submissions", headers=sender, json={  # v1's field is not v2's
        "destinationId": DEMO_DESTINATION, "announcedAttachments": [], "serviceType": SERVICE}).status_code == 400
    assert httpx.put(f"{env.url}/v2/submissions/{sid}/attachments/{attachment}", content=JWE,
                     headers={**sender, "Content-Type": "application/jose"}).status_code == 204
    submitted = httpx.put(f"{env.url}/v2/submissions/{sid}", headers=sender,
                          json={"encryptedMetadata": JWE, "encryptedData": ""})  # purpose: data placeholder
    assert submitted.status_code == 202 and submitted.json()["publicService"] == SERVICE
    listed = httpx.get(f"{env.url}/v2/submissions", params={"destinationId": DEMO_DESTINATION}, headers=subscriber)
    assert sid in {s["submissionId"] for s in listed.json()["submissions"]}
    fetched = httpx.get(f"{env.url}/v2/submissions/{sid}", headers=subscriber).json()
    assert fetched["publicService"] == SERVICE and fetched["encryptedData"] == ""
    as_v1 = httpx.get(f"{env.url}/v1/submissions/{sid}", headers=subscriber).json()  # one state, two generations
    assert as_v1["serviceType"] == SERVICE and "publicService" not in as_v1
    log = httpx.get(f"{env.url}/v2/submissions/{sid}/events", headers=sender).json()
    names = [next(iter(unverified_claims(t)["events"])).rsplit("/", 1)[-1] for t in log["eventLog"]]
    assert names == ["create-submission", "submit-submission"] and log["totalCount"] == 2


def test_v2_event_log_holds_only_the_submission_s_events(env: SandboxEnv) -> None:
    headers = bearer(env, SENDER_CLIENT)
    first = raw_submission(env, headers)
    second = raw_submission(env, headers, caseId=first["caseId"])  # a second submission in the same case
    log = httpx.get(f"{env.url}/v2/submissions/{second['submissionId']}/events", headers=headers).json()["eventLog"]
    assert {unverified_claims(t)["sub"] for t in log} == {f"submission:{second['submissionId']}"}
    case_log = httpx.get(f"{env.url}/v1/cases/{first['caseId']}/events", headers=headers).json()["eventLog"]
    assert len(case_log) == 4

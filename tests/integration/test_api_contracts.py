"""Review: tenant isolation of admin endpoints, conditional requests and OAuth2 error codes,
and the event-log cursor under concurrent transactions (PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.bootstrap import Gateway
from gateway.config import ClientConfig
from gateway.store import case_repo
from tests.conftest import SECRETS, TENANT, client_configs, make_settings, secret_hash
from tests.integration.conftest import portal_message

OTHER = "150855500000"


def _gateway(tmp_path: Path, **overrides: object) -> Iterator[Gateway]:
    clients = [*client_configs(), ClientConfig(
        client_id="admin-other", secret_hash=secret_hash("admin-other-secret"),
        scopes=["admin"], tenants=[OTHER])]
    gateway = Gateway.create(make_settings(tmp_path, clients=clients, **overrides))
    yield gateway
    gateway.close()


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    yield from _gateway(tmp_path)


def _token(api: TestClient, client: str, secret: str) -> dict[str, str]:
    response = api.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": client,
                                              "client_secret": secret})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_tenant_restricted_admin_cannot_see_or_replay_another_tenants_inbox(gateway: Gateway) -> None:
    # received for a worker (as a pull channel's messages are), then quarantined there, tenant TENANT
    outcome = gateway.pipeline.receive(portal_message(service="99999999999999"))
    gateway.worker.run_until_idle()
    assert gateway.pipeline.outcome(outcome.inbox_id).state == "quarantined"
    api = TestClient(create_app(gateway))
    headers = _token(api, "admin-other", "admin-other-secret")  # admin of OTHER only
    listed = api.get("/v1/admin/inbox", headers=headers).json()
    assert [e for e in listed if e["tenant"] == TENANT] == [], "admin of another municipality sees this inbox"
    replay = api.post(f"/v1/admin/inbox/{outcome.inbox_id}/replay", headers=headers)
    assert replay.status_code == 404, "admin of another municipality replayed this entry"


def test_stale_if_match_answers_412_precondition_failed(gateway: Gateway) -> None:
    case = gateway.pipeline.intake(portal_message()).case
    assert case is not None
    api = TestClient(create_app(gateway))
    headers = _token(api, "fach", SECRETS["fach"])
    first = api.post(f"/v1/cases/{case.id}/status", json={"status": "in_progress"},
                     headers={**headers, "If-Match": f'"{case.id}-v1"'})
    assert first.status_code == 200, first.text
    stale = api.post(f"/v1/cases/{case.id}/status", json={"status": "withdrawn"},
                     headers={**headers, "If-Match": f'"{case.id}-v1"'})
    assert stale.status_code == 412, stale.text  # RFC 9110 13.1.1; got 409


def test_token_endpoint_errors_use_rfc6749_status_codes(gateway: Gateway) -> None:
    api = TestClient(create_app(gateway))
    too_wide = api.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": "portal",
                                              "client_secret": SECRETS["portal"], "scope": "admin"})
    assert too_wide.status_code == 400 and too_wide.json()["error"] == "invalid_scope"  # got 403
    grant = api.post("/oauth/token", data={"grant_type": "password", "client_id": "portal",
                                           "client_secret": SECRETS["portal"]})
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"  # got 422


def test_event_cursor_does_not_skip_events_committed_out_of_order(tmp_path: Path, pg_url: str,
                                                                  redis_url: str) -> None:
    """PostgreSQL hands out sequence numbers at INSERT, not at COMMIT: a poller that reads
    while an older transaction is still open must not move its cursor past that event. The
    later writer does not wait for the earlier one; the feed holds its event back instead."""
    gateway = next(_gateway(tmp_path, profile="scaleout", database_url=pg_url, redis_url=redis_url,
                            queue_name=f"rgtest-{uuid.uuid4().hex[:8]}"))
    slow = gateway.db.transaction()  # e.g. a status change whose commit is a little late
    slow_open = False
    try:
        api = TestClient(create_app(gateway))
        headers = _token(api, "fach", SECRETS["fach"])
        now = dt.datetime.now(dt.UTC)

        def event(name: str) -> dict[str, object]:
            return {"id": str(uuid.uuid4()), "type": "case.status_changed", "subject": name, "data": {"n": name}}

        uow = slow.__enter__()
        slow_open = True
        case_repo.append_event(uow.conn, event("first"), str(uuid.uuid4()), TENANT, now)
        with gateway.db.transaction() as fast:  # a case received meanwhile commits at once
            case_repo.append_event(fast.conn, event("second"), str(uuid.uuid4()), TENANT, now)
        page = api.get("/v1/events", headers=headers).json()
        assert page["items"] == [], "the committed later event waits in the feed behind the open one"
        slow.__exit__(None, None, None)
        slow_open = False
        later = _events_until(api, headers, page["next"], 2)
        assert [e["subject"] for e in later] == ["first", "second"]
    finally:
        if slow_open:
            slow.__exit__(RuntimeError, RuntimeError("test failed"), None)
        gateway.close()


def _events_until(api: TestClient, headers: dict[str, str], after: str, count: int) -> list[dict[str, Any]]:
    """The feed's events after ``after`` once there are ``count``: another client's transaction
    on the shared server may hold the feed back for a moment (it lags, it never skips)."""
    deadline = time.monotonic() + 60
    while True:
        items: list[dict[str, Any]] = api.get("/v1/events", headers=headers, params={"after": after}).json()["items"]
        if len(items) >= count or time.monotonic() > deadline:
            return items
        time.sleep(0.05)


def test_attachments_of_another_client_cannot_be_referenced(gateway: Gateway) -> None:
    """The blob store is shared by all municipalities: knowing a document's SHA-512 must not be
    enough to attach (and then read back) what another client uploaded."""
    api = TestClient(create_app(gateway))
    secret_document = b"%PDF-1.7 Bescheid einer anderen Gemeinde"
    uploaded = api.post("/v1/uploads", content=secret_document, headers=_token(api, "portal", SECRETS["portal"]))
    assert uploaded.status_code == 201
    digest = hashlib.sha512(secret_document).hexdigest()
    envelope = {"tenant": OTHER, "service": "99108008001000", "form": "test-hund",
                "submitted_at": dt.datetime.now(dt.UTC).isoformat(),
                "data": {"halter": {"vorname": "A", "nachname": "B"}, "hund": {"name": "C"}},
                "attachments": [{"id": "a1", "filename": "bescheid.pdf", "media_type": "application/pdf",
                                 "sha512": digest}]}
    foreign = api.post("/v1/applications", json=envelope, headers=_token(api, "other", SECRETS["other"]))
    assert foreign.status_code == 422, foreign.text
    assert foreign.json()["attachment"] == "a1"
    own = api.post("/v1/uploads", content=secret_document, headers=_token(api, "other", SECRETS["other"]))
    assert own.status_code == 201
    accepted = api.post("/v1/applications", json=envelope, headers=_token(api, "other", SECRETS["other"]))
    assert accepted.status_code == 201, accepted.text

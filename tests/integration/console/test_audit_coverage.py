"""Every step the audit trail must show writes its entry into the municipality's chain: receipt,
case, upstream acknowledgement and rejection, status change, replay and discard (console, API,
CLI path), dead deliveries, and each admin view of quarantine entries; afterwards every chain
verifies and no entry holds the applicant's data."""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.bootstrap import Gateway
from gateway.events import audit_trail
from gateway.store import tables
from tests.conftest import SECRETS, TENANT
from tests.integration.console.conftest import (
    BreakableChannel,
    ConsoleClient,
    form_with_action,
    pull_message,
    quarantined,
)
from tests.support.audit_chains import seal_all

APPLICANT = ("Erika", "Mustermann", "12.08.1964", "1964-08-12", "Bello")


def _work(gateway: Gateway, rounds: int = 6) -> None:
    for _ in range(rounds):  # retries are due after the test-sized backoff
        gateway.worker.run_until_idle()
        time.sleep(0.06)


def _rows(gateway: Gateway) -> list[dict[str, Any]]:
    with gateway.db.reading() as conn:
        return [dict(r) for r in conn.execute(select(tables.audit).order_by(tables.audit.c.seq)).mappings()]


def _actions(gateway: Gateway, inbox_id: str) -> list[str]:
    return [r["action"] for r in _rows(gateway) if r["inbox_id"] == inbox_id]


def _admin_headers(http: TestClient) -> dict[str, str]:
    response = http.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": "admin",
                                               "client_secret": SECRETS["admin"]})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_the_trail_covers_the_whole_way_and_verifies(console: ConsoleClient, channel: BreakableChannel) -> None:
    gateway = console.gateway
    taken = gateway.pipeline.receive(pull_message()).inbox_id
    _work(gateway)
    assert _actions(gateway, taken) == ["received", "case.created", "acknowledged"]

    refused = quarantined(gateway, channel)
    _work(gateway)
    assert _actions(gateway, refused) == ["received", "quarantined", "rejected_upstream"]

    console.login("sachbearbeitung")
    assert console.http.get("/console/quarantaene").status_code == 200
    listed = console.audit("console.inbox_listed")
    assert [(r["tenant_ars"], r["details"]) for r in listed] == [
        (TENANT, {"states": ["quarantined"], "count": 1, "inbox_ids": [refused]})]
    assert console.http.get(f"/console/eingang/{refused}").status_code == 200
    viewed = console.audit("console.entry_viewed")
    assert [(r["actor"], r["tenant_ars"], r["inbox_id"]) for r in viewed] == [
        ("console:sachbearbeitung", TENANT, refused)]

    api = _admin_headers(console.http)
    assert [e["id"] for e in console.http.get("/v1/admin/inbox", headers=api).json()] == [refused]
    assert [(r["actor"], r["details"]["inbox_ids"]) for r in console.audit("admin.inbox_listed")] == [
        ("client:admin", [refused])]

    path = f"/console/eingang/{refused}/verwerfen"
    form = form_with_action(console.http.get(path).text, path)
    assert console.http.post(path, data={**form["fields"], "grund": "test"}, follow_redirects=False).status_code == 303
    assert _actions(gateway, refused)[-1] == "discarded"

    channel.ack_down = True
    unanswered = gateway.pipeline.receive(pull_message()).inbox_id
    _work(gateway)
    dead = console.audit("delivery.dead")
    assert [(r["tenant_ars"], r["inbox_id"]) for r in dead] == [(TENANT, unanswered)]
    channel.ack_down = False
    row_id = dead[0]["details"]["outbox_id"]
    replayed = console.http.post(f"/v1/admin/outbox/{row_id}/replay", headers=api)
    assert replayed.status_code == 200, replayed.text
    assert [(r["actor"], r["tenant_ars"], r["details"]["outbox_id"]) for r in console.audit("delivery.replayed")] \
        == [("client:admin", TENANT, row_id)]
    _work(gateway)
    assert _actions(gateway, unanswered)[-1] == "acknowledged"

    seal_all(gateway.db)  # the console's and the API's entries since the worker's last round
    results = audit_trail.verify(gateway.db)
    assert [(r.chain, r.problem, r.pending) for r in results] == [("-", None, None), (TENANT, None, None)]
    assert sum(r.entries for r in results) == len(_rows(gateway))
    stored = json.dumps([{k: str(v) for k, v in row.items()} for row in _rows(gateway)], ensure_ascii=False)
    assert not [value for value in APPLICANT if value in stored]

"""Webhooks to local processing over real HTTP: signed CloudEvents leave through the outbox,
are retried with backoff, end as dead letters after the cap and can be replayed."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.outbox.webhooks import verify
from gateway.store import tables
from tests.conftest import TENANT
from tests.e2e.conftest import OTHER_TENANT, Api, hund_envelope, problem_type, running_gateway
from tests.support.servers import free_port, serve_app

SECRET = "whsec-local-processing-0123456789"
PERSONAL = ("Erika", "Mustermann", "Bello", "1980-02-29")


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class Receiver:
    """A local-processing endpoint: records every request, answers from a script per path."""

    base: str = ""
    deliveries: list[Delivery] = field(default_factory=list)
    scripts: dict[str, list[int]] = field(default_factory=dict)   # path -> statuses to answer, then 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            body = await request.body()
            path = request.url.path
            with self.lock:
                script = self.scripts.get(path, [])
                status = script.pop(0) if script else 200
                self.deliveries.append(Delivery(path, dict(request.headers), body, status))
            return Response(status_code=status)

        return Starlette(routes=[Route("/{name}", hook, methods=["POST"])])

    def at(self, path: str) -> list[Delivery]:
        with self.lock:
            return [d for d in self.deliveries if d.path == path]

    def url(self, path: str) -> str:
        return self.base + path


@contextmanager
def receiver_and_gateway(tmp_path: Path, hooks: list[dict[str, Any]], scripts: dict[str, list[int]] | None = None,
                         **overrides: Any) -> Iterator[tuple[Receiver, Api]]:
    receiver = Receiver(scripts=dict(scripts or {}))
    with serve_app(receiver.app()) as base:
        receiver.base = base
        webhooks = [{"secret": SECRET, **hook,
                     "url": hook["url"] if hook["url"].startswith("http") else base + hook["url"]}
                    for hook in hooks]
        with running_gateway(tmp_path / "gw", webhooks=webhooks, **overrides) as api:
            yield receiver, api


def work_until(api: Api, condition: Any, timeout: float = 10.0) -> None:
    """Runs the worker (outbox included) until ``condition()`` holds; backoff is tiny in tests."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        api.gw.worker.run_until_idle()
        time.sleep(0.01)


def outbox_rows(api: Api, case_id: str) -> list[dict[str, Any]]:
    with api.gw.db.reading() as conn:
        rows = conn.execute(select(tables.outbox).where(tables.outbox.c.case_id == case_id)
                            .order_by(tables.outbox.c.id)).mappings().all()
    return [dict(r) for r in rows]


def test_case_received_arrives_as_signed_cloudevent(tmp_path: Path) -> None:
    hooks: list[dict[str, Any]] = [{"name": "fach", "url": "/fach"},
                                   {"name": "zweite", "url": "/zweite", "tenants": [OTHER_TENANT]},
                                   {"name": "status-only", "url": "/status", "events": ["case.status_changed"]}]
    with receiver_and_gateway(tmp_path, hooks) as (receiver, api):
        created = api.create_case()
        case_id = created["case_id"]
        assert receiver.deliveries == [], "nothing leaves before the outbox runs"
        api.gw.worker.run_until_idle()

        [delivery] = receiver.at("/fach")
        assert delivery.answered == 200
        assert delivery.headers["content-type"] == "application/cloudevents+json"
        event = delivery.event
        assert event["specversion"] == "1.0"
        assert event["type"] == "case.received"
        assert event["subject"] == case_id
        assert event["source"] == f"urn:rathaus-gateway:tenant:{TENANT}"
        assert event["datacontenttype"] == "application/json"
        assert event["data"]["case_id"] == case_id
        assert event["data"]["reference"] == created["reference"]
        assert event["data"]["status"] == "received"
        assert delivery.headers["webhook-id"] == event["id"]
        for personal in PERSONAL:
            assert personal not in delivery.body.decode(), f"the notification carries {personal!r}"
        assert verify(SECRET.encode(), delivery.headers, delivery.body)
        assert not verify(b"another-secret-0123456789abcdef", delivery.headers, delivery.body)
        assert not verify(SECRET.encode(), delivery.headers, delivery.body.replace(b"received", b"decided!"))
        # the same event is in the polling log
        logged = [e for e in api.get("/v1/events").json()["items"] if e["subject"] == case_id]
        assert logged == [event]
        # the tenant- and type-restricted hooks got nothing
        assert receiver.at("/zweite") == []
        assert receiver.at("/status") == []

        changed = api.http.post(f"/v1/cases/{case_id}/status", json={"status": "in_progress", "version": 1},
                                headers=api.auth("fach"))
        assert changed.status_code == 200
        api.gw.worker.run_until_idle()
        assert [d.event["type"] for d in receiver.at("/fach")] == ["case.received", "case.status_changed"]
        [status_event] = [d for d in receiver.at("/status")]
        assert status_event.event["data"]["previous_status"] == "received"
        assert status_event.event["data"]["status"] == "in_progress"
        assert verify(SECRET.encode(), status_event.headers, status_event.body)
        assert receiver.at("/zweite") == []
        assert {r["state"] for r in outbox_rows(api, case_id)} == {"done"}
        # nothing is sent twice
        api.gw.worker.run_until_idle()
        assert len(receiver.deliveries) == 3

        other = api.create_case(hund_envelope(tenant=OTHER_TENANT), client="other")
        api.gw.worker.run_until_idle()
        assert [d.event["subject"] for d in receiver.at("/zweite")] == [other["case_id"]]


def test_failing_receiver_gets_the_event_once_after_retries(tmp_path: Path) -> None:
    hooks = [{"name": "flaky", "url": "/flaky"}]
    with receiver_and_gateway(tmp_path, hooks, scripts={"/flaky": [500, 500]}) as (receiver, api):
        case_id = api.create_case()["case_id"]
        work_until(api, lambda: any(d.answered == 200 for d in receiver.at("/flaky")))
        deliveries = receiver.at("/flaky")
        assert [d.answered for d in deliveries] == [500, 500, 200]
        assert len({d.headers["webhook-id"] for d in deliveries}) == 1, "every attempt carries the same event id"
        assert len({d.body for d in deliveries}) == 1
        assert all(verify(SECRET.encode(), d.headers, d.body) for d in deliveries)
        [row] = outbox_rows(api, case_id)
        assert (row["state"], row["attempts"], row["last_error"]) == ("done", 3, None)
        # later rounds send nothing more
        time.sleep(0.1)
        api.gw.worker.run_until_idle()
        assert len(receiver.at("/flaky")) == 3
        assert api.get("/v1/admin/outbox", "admin", params={"state": "dead"}).json() == []


def test_receiver_that_always_fails_ends_dead_and_replay_revives(tmp_path: Path) -> None:
    hooks = [{"name": "down", "url": "/down"}]
    with receiver_and_gateway(tmp_path, hooks, scripts={"/down": [503] * 100},
                              delivery_max_attempts=3) as (receiver, api):
        case_id = api.create_case()["case_id"]

        def dead() -> list[dict[str, Any]]:
            listed: list[dict[str, Any]] = api.get("/v1/admin/outbox", "admin", params={"state": "dead"}).json()
            return listed

        work_until(api, lambda: bool(dead()))
        [entry] = dead()
        assert (entry["kind"], entry["target"], entry["case_id"], entry["attempts"]) == ("webhook", "down", case_id, 3)
        assert "503" in entry["error"]
        assert len(receiver.at("/down")) == 3, "exactly delivery_max_attempts attempts"
        # dead stays dead: no further attempts
        time.sleep(0.1)
        api.gw.worker.run_until_idle()
        assert len(receiver.at("/down")) == 3
        [audit] = api.audit_rows(case_id=case_id, action="delivery.dead")
        assert audit["details"] == {"outbox_id": entry["id"], "kind": "webhook", "target": "down"}
        assert audit["tenant_ars"] == TENANT, "in the case's municipality's audit chain"

        # only admins see and replay the dead letters
        assert api.get("/v1/admin/outbox", "fach").status_code == 403
        assert api.http.post(f"/v1/admin/outbox/{entry['id']}/replay", headers=api.auth("fach")).status_code == 403

        receiver.scripts["/down"] = []   # the receiver is back
        replay = api.http.post(f"/v1/admin/outbox/{entry['id']}/replay", headers=api.auth("admin"))
        assert replay.status_code == 200
        assert replay.json() == {"id": entry["id"], "state": "pending"}
        [revived] = api.audit_rows(case_id=case_id, action="delivery.replayed")
        assert (revived["actor"], revived["details"]["outbox_id"]) == ("client:admin", entry["id"])
        assert dead() == []
        work_until(api, lambda: any(d.answered == 200 for d in receiver.at("/down")))
        deliveries = receiver.at("/down")
        assert [d.answered for d in deliveries] == [503, 503, 503, 200]
        assert len({d.headers["webhook-id"] for d in deliveries}) == 1
        [row] = outbox_rows(api, case_id)
        assert row["state"] == "done"
        # a delivered row cannot be replayed; an unknown one neither
        for row_id in (entry["id"], 999_999):
            again = api.http.post(f"/v1/admin/outbox/{row_id}/replay", headers=api.auth("admin"))
            assert again.status_code == 404
            assert again.json()["type"] == problem_type("not-found")
        api.gw.worker.run_until_idle()
        assert len(receiver.at("/down")) == 4


def test_unreachable_receiver_is_retried_not_lost(tmp_path: Path) -> None:
    hooks = [{"name": "gone", "url": f"http://127.0.0.1:{free_port()}/gone"}]  # nobody listens there
    with receiver_and_gateway(tmp_path, hooks, delivery_max_attempts=2) as (receiver, api):
        case_id = api.create_case()["case_id"]
        work_until(api, lambda: bool(api.get("/v1/admin/outbox", "admin", params={"state": "dead"}).json()))
        [entry] = api.get("/v1/admin/outbox", "admin", params={"state": "dead"}).json()
        assert entry["case_id"] == case_id
        assert entry["attempts"] == 2
        assert entry["error"].startswith("UpstreamUnavailable")
        assert receiver.deliveries == []


def test_retries_of_a_receiver_that_is_down_wait_longer_each_time(tmp_path: Path) -> None:
    """Exponential backoff (gateway/backoff.py: between half and all of base * 2**attempts, capped):
    the waits between the attempts at a receiver that is down grow, then the row is dead."""
    hooks = [{"name": "down", "url": "/down"}]
    with receiver_and_gateway(tmp_path, hooks, scripts={"/down": [503] * 100}, delivery_max_attempts=4,
                              backoff_base_seconds=0.1, backoff_max_seconds=5.0) as (receiver, api):
        api.create_case()
        arrivals: list[float] = []
        deadline = time.monotonic() + 20
        while not api.get("/v1/admin/outbox", "admin", params={"state": "dead"}).json():
            assert time.monotonic() < deadline, "the row did not end dead"
            seen = len(receiver.at("/down"))
            api.gw.dispatcher.run_due()
            if len(receiver.at("/down")) > seen:
                arrivals.append(time.monotonic())
            time.sleep(0.005)
        assert len(arrivals) == 4, "delivery_max_attempts attempts, then dead"
        waits = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
        # after attempt n the wait is at least base * 2**n / 2: 0.1 s, 0.2 s, 0.4 s
        for attempt, wait in enumerate(waits, start=1):
            assert wait >= 0.1 * 2 ** attempt / 2 - 0.01, f"wait {attempt}: {wait:.3f} s, {waits}"
        assert waits[2] > waits[0], f"the waits do not grow: {waits}"

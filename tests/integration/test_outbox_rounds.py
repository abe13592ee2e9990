"""One outbox round: acknowledgements and rejections upstream go first, and a webhook endpoint
that hangs costs the round about one timeout, not one per waiting row — nor does it starve
the other subscribers."""

from __future__ import annotations

import datetime as dt
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI, Request
from sqlalchemy import Connection

from gateway.bootstrap import Gateway
from gateway.store import outbox_repo
from gateway.store.outbox_repo import OutboxRow
from tests.conftest import make_settings
from tests.support.servers import serve_app

TIMEOUT = 0.5
SECRET = "webhook-secret-0123456789abcdef"


@pytest.fixture
def hanging_url() -> Iterator[str]:
    """Accepts connections (the kernel's backlog) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/events"
    sock.close()


class Upstream:
    """The ``ack``/``reject`` handler, recording when each row reached the source."""

    def __init__(self) -> None:
        self.at: list[tuple[str, float]] = []

    def deliver(self, row: OutboxRow) -> None:
        self.at.append((row.kind, time.monotonic()))

    def delivered(self, conn: Connection, row: OutboxRow, now: dt.datetime) -> None:
        """Nothing to record."""


def test_acknowledgements_go_first_and_a_hanging_webhook_costs_one_timeout(tmp_path: Path, hanging_url: str
                                                                          ) -> None:
    fast: list[float] = []
    app = FastAPI()

    @app.post("/events")
    async def events(request: Request) -> dict[str, str]:
        await request.body()
        fast.append(time.monotonic())
        return {}

    with serve_app(app) as fast_url:
        settings = make_settings(tmp_path, webhook_timeout_seconds=TIMEOUT, webhooks=[
            {"name": "slow", "url": hanging_url, "secret": SECRET, "events": ["case.received"]},
            {"name": "fast", "url": fast_url + "/events", "secret": SECRET, "events": ["case.received"]}])
        gateway = Gateway.create(settings)
        try:
            upstream = Upstream()
            gateway.dispatcher.handlers["ack"] = gateway.dispatcher.handlers["reject"] = upstream
            now = gateway.clock()
            with gateway.db.transaction() as uow:  # the oldest rows are the hanging subscriber's
                for n in range(6):
                    outbox_repo.add(uow.conn, kind="webhook", target="slow", now=now,
                                    payload={"id": f"slow-{n}", "type": "case.received"})
                for n in range(2):
                    outbox_repo.add(uow.conn, kind="webhook", target="fast", now=now,
                                    payload={"id": f"fast-{n}", "type": "case.received"})
                outbox_repo.add(uow.conn, kind="ack", target="xta", now=now, payload={})
                outbox_repo.add(uow.conn, kind="reject", target="fitconnect", now=now, payload={})

            started = time.monotonic()
            gateway.dispatcher.run_due()
            first_round = time.monotonic() - started
            assert [kind for kind, _ in upstream.at] == ["ack", "reject"]
            assert max(at for _, at in upstream.at) - started < TIMEOUT, "the sources waited for a webhook"
            assert first_round < 2.5 * TIMEOUT, f"the round took {first_round:.2f} s"

            started = time.monotonic()
            gateway.dispatcher.run_due()  # the subscriber that failed comes last now
            assert len(fast) == 2, "the hanging subscriber starved the other one"
            assert time.monotonic() - started < 2.5 * TIMEOUT
            with gateway.db.reading() as conn:
                pending = outbox_repo.list_state(conn, "pending")
            assert {row.target for row in pending} == {"slow"}
        finally:
            gateway.close()

"""The console on the scale-out profile (PostgreSQL + Redis): sessions in PostgreSQL shared by
two API processes' worth of apps, login counters in Redis shared too, and the pages' queries."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.bootstrap import Gateway
from tests.conftest import make_settings
from tests.integration.console.conftest import (
    BreakableChannel,
    ConsoleClient,
    console_settings,
    inbox_state,
    pull_message,
    text_of,
)


@pytest.fixture
def scaleout(tmp_path: Path, pg_url: str, redis_url: str) -> Iterator[Gateway]:
    gateway = Gateway.create(make_settings(tmp_path, profile="scaleout", database_url=pg_url, redis_url=redis_url,
                                           queue_name=f"rgtest-{uuid.uuid4().hex[:8]}", console=console_settings(),
                                           intake_max_attempts=2))
    yield gateway
    gateway.close()


def test_two_api_processes_share_sessions_and_login_counters(scaleout: Gateway) -> None:
    channel = BreakableChannel(scaleout)
    scaleout.adapters.channels.register("testpull", channel)
    channel.broken = True
    inbox_id = scaleout.pipeline.receive(pull_message()).inbox_id
    scaleout.worker.run_until_idle()
    channel.broken = False
    assert inbox_state(scaleout, inbox_id) == "quarantined"
    # two apps = two API processes: each has its own memory, the store and Redis are shared
    with TestClient(create_app(scaleout)) as first, TestClient(create_app(scaleout)) as second:
        one, two = ConsoleClient(scaleout, first), ConsoleClient(scaleout, second)
        for _ in range(2):
            assert one.login("sachbearbeitung", "geraten").status_code == 401
        assert two.login("sachbearbeitung", "geraten").status_code == 401  # the third failure, elsewhere
        assert one.login("sachbearbeitung").status_code == 429  # locked out in both
        assert one.login("leitung").status_code == 303
        second.cookies.set("rg_console", first.cookies.get("rg_console", path="/console"), path="/console")
        overview = text_of(two.http.get("/console/").text)
        assert "testpull" in overview and "1 in Quarantäne" in overview
        assert "Keine Fälle gefunden" in two.http.get("/console/faelle").text
        form_token = one.csrf()
        done = two.http.post(f"/console/eingang/{inbox_id}/wiederholen", data={"csrf": form_token},
                             follow_redirects=False)
        assert done.status_code == 303
    scaleout.worker.run_until_idle()
    assert inbox_state(scaleout, inbox_id) == "acknowledged"

"""Fault test (issue 13, item 7): the XTA server answers 500s, then times out. The source's
circuit opens after the configured failures, ``GET /v1/admin/adapters`` shows it open with the
last error, the server is not called while it is open (one probe per cool-down), and once the
server is healthy again the gateway recovers by itself: the message becomes a case and is
closed exactly once. The same for the acknowledgement (``close``) of a committed case. The admin
console's overview (an HTTP GET with an admin's login) shows the adapter disturbed with its
circuit open while the server fails, and in order with the circuit closed once it recovered."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from adapters.xta import samples, testing
from adapters.xta.client import XtaClient
from adapters.xta.sandbox.app import create_app
from tests.e2e.conftest import Api, problem_type, running_gateway
from tests.integration.console.conftest import PASSWORDS, console_settings, form_with_action, text_of
from tests.support.servers import serve_app

CLIENT_TIMEOUT = 0.5
HEALTH = {"failure_threshold": 3, "cooldown_seconds": 1.0, "cooldown_max_seconds": 2.0, "error_window_seconds": 2.0}


@dataclass
class Faulty:
    """The sandbox behind a switch: ``ok`` passes requests on, ``500`` answers HTTP 500 without
    a SOAP body, ``timeout`` answers only after the client has given up. Counts every request."""

    app: ASGIApp
    mode: str = "ok"
    requests: list[str] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.requests.append(self.mode)
        if self.mode == "ok":
            await self.app(scope, receive, send)
            return
        if self.mode == "timeout":
            await asyncio.sleep(CLIENT_TIMEOUT * 3)
        await send({"type": "http.response.start", "status": 500, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"internal error"})


@contextmanager
def stack(tmp_path: Path, mappings_dir: Path) -> Iterator[tuple[Api, Faulty, XtaClient, Any]]:
    sandbox = create_app()
    faulty = Faulty(sandbox)
    with serve_app(sandbox, health_path="/health") as direct, serve_app(faulty) as behind, \
            httpx.Client(timeout=30) as http:
        options = testing.options(behind, timeout_seconds=CLIENT_TIMEOUT)
        with running_gateway(tmp_path, mappings_dir=mappings_dir, adapters={"xta": options}, health=HEALTH,
                             console=console_settings()) as api:
            yield api, faulty, XtaClient(direct, samples.STATE_PORTAL, http), sandbox.state.xta


def adapter(api: Api, kind: str, name: str = "xta") -> dict[str, Any]:
    response = api.get("/v1/admin/adapters", "admin")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = next(a for a in response.json()["adapters"] if (a["kind"], a["name"]) == (kind, name))
    return found


@contextmanager
def console_login(api: Api) -> Iterator[httpx.Client]:
    """An admin's browser, logged in to the console (before the fault: a login checks a password hash)."""
    with httpx.Client(base_url=api.base, timeout=15) as browser:
        form = form_with_action(browser.get("/console/anmelden").text, "/console/anmelden")
        login = browser.post("/console/anmelden", data={**form["fields"], "benutzername": "leitung",
                                                          "passwort": PASSWORDS["leitung"]})
        assert login.status_code == 303, login.text  # to the overview
        yield browser


def console_row(browser: httpx.Client, row_id: str) -> str:
    """The text of one row of the console's adapter overview, as the admin sees it."""
    page = browser.get("/console/")
    assert page.status_code == 200
    row = re.search(rf'<tr id="{re.escape(row_id)}">(.*?)</tr>', page.text, re.S)
    assert row is not None, f"no row {row_id} on the console's overview"
    return text_of(row.group(1))


def rounds_until(api: Api, condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not reached in time"
        api.gw.worker.run_once()
        time.sleep(0.02)


def rounds_for(api: Api, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        api.gw.worker.run_once()
        time.sleep(0.02)


def test_a_failing_xta_server_opens_the_circuit_and_the_gateway_recovers_by_itself(
        tmp_path: Path, mappings_dir: Path) -> None:
    with stack(tmp_path, mappings_dir) as (api, faulty, portal, state), console_login(api) as browser:
        message_id = samples.post(portal, samples.GEWERBE, samples.GEWERBE.fixtures()[0].read_bytes())
        faulty.mode = "500"
        rounds_until(api, lambda: adapter(api, "source")["circuit"] == "open")
        assert faulty.requests == ["500"] * 3, "each failing poll is one request; three open the circuit"
        source = adapter(api, "source")
        assert (source["state"], source["consecutive_failures"], source["last_success_at"]) == ("down", 3, None)
        assert source["last_error"]["type"] == problem_type("xta-server-error")
        assert source["last_error"]["at"] is not None and source["retry_at"] is not None

        rounds_for(api, 0.6)  # within the cool-down: the worker goes round, the server hears nothing
        assert len(faulty.requests) == 3
        shown = console_row(browser, "adapter-channel-xta")
        assert "gestört" in shown and "offen (Aufrufe ruhen)" in shown, shown

        faulty.mode = "timeout"  # the probe after the cool-down times out: open again, for longer
        first_retry = source["retry_at"]
        rounds_until(api, lambda: len(faulty.requests) == 4 and adapter(api, "source")["retry_at"] != first_retry)
        again = adapter(api, "source")
        assert (again["circuit"], again["consecutive_failures"]) == ("open", 4)
        rounds_for(api, 1.0)
        assert len(faulty.requests) == 4, "one probe per cool-down, no hammering"
        assert state.messages[message_id].fetched is False

        faulty.mode = "ok"  # healthy again: the next probe succeeds and everything flows
        rounds_until(api, lambda: api.gw.queries.case_by_source("xta", message_id) is not None
                     and state.calls[f"closed:{message_id}"] == 1)
        recovered = adapter(api, "source")
        assert (recovered["circuit"], recovered["consecutive_failures"]) == ("closed", 0)
        assert recovered["last_success_at"] is not None
        entry = api.gw.queries.inbox_entry("xta", message_id)
        assert entry is not None and entry.state == "acknowledged"
        time.sleep(2.0 * HEALTH["error_window_seconds"])  # the failures age out of the error rate
        assert adapter(api, "source")["state"] == "ok"
        shown = console_row(browser, "adapter-channel-xta")
        assert "in Ordnung" in shown and "geschlossen (Aufrufe laufen)" in shown, shown
        rounds_for(api, 0.3)
        assert state.calls[f"closed:{message_id}"] == 1


def test_acknowledgements_wait_while_the_xta_server_fails_and_are_made_once_it_is_back(
        tmp_path: Path, mappings_dir: Path) -> None:
    with stack(tmp_path, mappings_dir) as (api, faulty, portal, state):
        message_id = samples.post(portal, samples.WOHNGELD, samples.WOHNGELD.fixtures()[0].read_bytes())
        worker = api.gw.worker
        worker.poll_sources(force=True)
        worker.run_jobs()
        assert api.gw.queries.case_by_source("xta", message_id) is not None
        faulty.mode = "500"  # the server breaks between the commit and the close
        deadline = time.monotonic() + 10
        while adapter(api, "acknowledger")["circuit"] != "open":
            assert time.monotonic() < deadline
            api.gw.dispatcher.run_due()
            time.sleep(0.06)  # the tests' backoff: a few hundredths of a second
        tried = len(faulty.requests)
        assert faulty.requests.count("500") == 3, "three failed closes open the circuit"
        acknowledger = adapter(api, "acknowledger")
        assert (acknowledger["state"], acknowledger["backlog"]) == ("down", 1)
        assert acknowledger["last_error"]["type"] == problem_type("xta-server-error")
        for _ in range(10):
            api.gw.dispatcher.run_due()
            time.sleep(0.05)
        assert len(faulty.requests) == tried, "no close is tried while the circuit is open"

        faulty.mode = "ok"
        deadline = time.monotonic() + 10
        while state.calls[f"closed:{message_id}"] == 0:
            assert time.monotonic() < deadline, "the close was never made"
            api.gw.dispatcher.run_due()
            time.sleep(0.05)
        entry = api.gw.queries.inbox_entry("xta", message_id)
        assert entry is not None and entry.state == "acknowledged"
        after = adapter(api, "acknowledger")
        assert (after["circuit"], after["backlog"]) == ("closed", 0)
        assert state.calls[f"closed:{message_id}"] == 1

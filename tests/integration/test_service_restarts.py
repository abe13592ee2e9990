"""PostgreSQL or Redis restarted in the middle of a run (issue 13, item 7).

The scale-out profile runs as ``rathaus-gateway serve`` (API, and its worker as a child process)
on a PostgreSQL and a Redis of the test's own — started here from the machine's binaries on free
ports, never the shared services other tests use. Traffic goes on all the time: the portal
backend submits applications over HTTP, a pull channel's receive step takes messages in (inbox
row and job), local processing gets a webhook per case. In the middle the test stops one service
(Redis without persistence: its streams are gone when it comes back, as after losing the host)
and starts it again. Meanwhile:

* ``/readyz`` reports the gateway not ready and names the service that is down, and the admin
  console's overview shows it unreachable;
* the portal keeps answering: ``201`` with the case, or ``503`` as problem+json while the database
  is away — never a ``5xx`` of another kind;
* afterwards the backlog drains: every application answered ``201`` and every message whose
  receive returned is a case, exactly once, and every case's webhook arrived — once, or (only when
  the database went away between a delivery and its record) again as the same event, same
  ``webhook-id``, which is there for de-duplication;
  what was refused is sent again by its source (same Idempotency-Key) and taken in then.

``FAULT_OUTAGES`` sets the number of outages per run (``make test``: 1, ``make soak``: 10)."""

from __future__ import annotations

import collections
import datetime as dt
import glob
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI, Request
from sqlalchemy import func, select

from gateway.bootstrap import Gateway
from gateway.config import Settings
from gateway.errors import GatewayError
from gateway.store.tables import cases, inbox, outbox
from tests.conftest import SECRETS, TENANT, TEST_MASTER_KEY, TESTDATA, client_configs, secret_hash
from tests.integration.conftest import portal_message
from tests.integration.console.conftest import PASSWORDS, form_with_action, text_of
from tests.support.serve_process import serving
from tests.support.servers import free_port, serve_app

OUTAGES = int(os.environ.get("FAULT_OUTAGES", "1"))


class Service:
    """A server process of the test's own on a data folder that survives its restarts."""

    def __init__(self, name: str, command: list[str], port: int, user: str | None = None) -> None:
        self.name, self.command, self.port, self.user = name, command, port, user
        self.process: subprocess.Popen[bytes] | None = None
        self.log = Path(tempfile.mkstemp(prefix=f"rg-{name}-", suffix=".log")[1])

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(self.command, stdout=out, stderr=out, user=self.user,
                                            start_new_session=True)
        deadline = time.monotonic() + 30
        while not self.answers():
            assert self.process.poll() is None and time.monotonic() < deadline, \
                f"{self.name} did not start: {self.log.read_text(errors='replace')[-2000:]}"
            time.sleep(0.05)

    def answers(self) -> bool:
        import socket

        with socket.socket() as probe:
            probe.settimeout(0.2)
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@contextmanager
def private_postgres() -> Iterator[tuple[Service, str]]:
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if not binaries:
        pytest.fail("PostgreSQL's server binaries are missing (/usr/lib/postgresql/*/bin): install Debian's "
                    "postgresql package", pytrace=False)
    bindir = Path(binaries[-1]).parent
    root = Path(tempfile.mkdtemp(prefix="rg-pg-"))  # outside pytest's 0700 folders: postgres must enter it
    data, sockets = root / "data", root / "run"
    user = "postgres" if os.geteuid() == 0 else None  # initdb refuses to run as root
    try:
        for folder in (data, sockets):
            folder.mkdir()
        if user:
            shutil.chown(root, user)
            for folder in (data, sockets):
                shutil.chown(folder, user)
        subprocess.run([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
                       check=True, capture_output=True, user=user)
        port = free_port()
        service = Service("postgresql", [str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(sockets),
                                         "-c", "listen_addresses=127.0.0.1"], port, user)
        service.start()
        try:
            yield service, f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        finally:
            service.stop(signal.SIGINT)  # fast shutdown
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def private_redis() -> Iterator[tuple[Service, str]]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is missing: install Debian's redis-server package", pytrace=False)
    root = Path(tempfile.mkdtemp(prefix="rg-redis-"))
    port = free_port()
    service = Service("redis", [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                "--dir", str(root)], port)
    service.start()
    try:
        yield service, f"redis://127.0.0.1:{port}/0"
    finally:
        service.stop()
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class Run:
    """What the sources saw: the portal's answers and the pull channel's receives."""

    portal_answers: dict[str, list[int]] = field(default_factory=lambda: collections.defaultdict(list))
    portal_cases: dict[str, str] = field(default_factory=dict)
    odd_answers: list[str] = field(default_factory=list)
    received: set[str] = field(default_factory=set)
    refused: set[str] = field(default_factory=set)
    hooks: list[str] = field(default_factory=list)  # the case of each case.received event that arrived
    hook_ids: dict[str, set[str]] = field(default_factory=lambda: collections.defaultdict(set))  # webhook-ids
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)


def envelope() -> dict[str, Any]:
    return {"tenant": TENANT, "service": "99108008001000", "form": "test-hund",
            "submitted_at": dt.datetime.now(dt.UTC).isoformat(), "attachments": [],
            "data": {"halter": {"vorname": "Erika", "nachname": "Mustermann"}, "hund": {"name": "Bello"}}}


def submit(http: httpx.Client, auth: str, key: str, body: dict[str, Any], run: Run) -> int:
    try:
        response = http.post("/v1/applications", json=body, headers={"Authorization": f"Bearer {auth}",
                                                                     "Idempotency-Key": key})
    except httpx.HTTPError:
        return 0
    with run.lock:
        run.portal_answers[key].append(response.status_code)
        if response.status_code in (200, 201):
            run.portal_cases[key] = str(response.json()["case_id"])
        elif response.status_code != 503 or response.headers.get("content-type") != "application/problem+json":
            run.odd_answers.append(f"{response.status_code} {response.headers.get('content-type')}: "
                                   f"{response.text[:200]}")
    return response.status_code


def portal_feeder(base: str, run: Run, bodies: dict[str, dict[str, Any]]) -> None:
    with httpx.Client(base_url=base, timeout=30) as http:
        auth = http.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": "portal",
                                               "client_secret": SECRETS["portal"]}).json()["access_token"]
        while not run.stop.is_set():
            key = f"restart-{uuid.uuid4()}"
            bodies[key] = envelope()
            submit(http, auth, key, bodies[key], run)
            time.sleep(0.05)


def pull_feeder(gw: Gateway, run: Run) -> None:
    """A pull channel's receive step: the source is acknowledged only once receive returned."""
    while not run.stop.is_set():
        source_id = f"pull-{uuid.uuid4()}"
        try:
            gw.pipeline.receive(portal_message(source_id))
        except GatewayError:
            with run.lock:
                run.refused.add(source_id)
        except Exception:  # a database driver's error while PostgreSQL is away: refused, not acknowledged
            with run.lock:
                run.refused.add(source_id)
        else:
            with run.lock:
                run.received.add(source_id)
        time.sleep(0.05)


def hook_receiver(run: Run) -> FastAPI:
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request) -> dict[str, str]:
        event = json.loads(await request.body())
        with run.lock:
            if event["type"] == "case.received":
                run.hooks.append(event["subject"])
                run.hook_ids[event["subject"]].add(request.headers["webhook-id"])
        return {"ok": "yes"}

    return app


def console_login(base: str) -> httpx.Client:
    """An admin's browser, logged in to the console (logins need the login limiter, which lives in
    Redis in this profile and refuses while it is away: the admin logs in before the outage)."""
    browser = httpx.Client(base_url=base, timeout=15)
    form = form_with_action(browser.get("/console/anmelden").text, "/console/anmelden")
    login = browser.post("/console/anmelden", data={**form["fields"], "benutzername": "leitung",
                                                    "passwort": PASSWORDS["leitung"]})
    assert login.status_code == 303, login.text
    return browser


def console_system(browser: httpx.Client) -> str:
    page = browser.get("/console/")
    return text_of(page.text) if page.status_code == 200 else f"{page.status_code} {text_of(page.text)[:500]}"


@contextmanager
def serve(config: Path, port: int, log: Path) -> Iterator[str]:
    with serving(config, port, log) as (_, base):
        yield base


def readiness(base: str) -> tuple[int, dict[str, Any]]:
    try:
        response = httpx.get(base + "/readyz", timeout=15)
    except httpx.HTTPError as exc:
        return 0, {"error": type(exc).__name__}
    return response.status_code, response.json()


@pytest.mark.parametrize("restarted", ["redis", "postgresql"])
def test_a_restarted_database_or_queue_loses_nothing(restarted: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    run = Run()
    bodies: dict[str, dict[str, Any]] = {}
    with ExitStack() as stack:
        postgres, pg_url = stack.enter_context(private_postgres())
        redis, redis_url = stack.enter_context(private_redis())
        hooks = stack.enter_context(serve_app(hook_receiver(run)))
        config = tmp_path / "gateway.yaml"
        config.write_text(yaml.safe_dump({
            "profile": "scaleout", "database_url": pg_url, "redis_url": redis_url, "queue_name": "restarts",
            "data_dir": str(tmp_path / "data"), "mappings_dir": str(TESTDATA / "mappings"),
            "fixtures_dir": str(TESTDATA / "fixtures"), "token_signing_key": "restart-signing-key-0123456789abcdef0123",
            "at_rest": {"master_keys": [TEST_MASTER_KEY]},
            "clients": [c.model_dump() for c in client_configs()],
            "console": {"accounts": [{"username": "leitung", "password_hash": secret_hash(PASSWORDS["leitung"]),
                                      "tenants": [TENANT]}]},
            "webhooks": [{"name": "fachverfahren", "url": hooks + "/hook", "secret": "restart-webhook-secret-0123"}],
            "worker_idle_seconds": 0.1, "job_lease_seconds": 2, "delivery_lease_seconds": 2,
            "backoff_base_seconds": 0.05, "backoff_max_seconds": 1.0,
        }), encoding="utf-8")
        monkeypatch.setenv("RG_CONFIG_FILE", str(config))
        gw = Gateway.create(Settings())  # creates the schema; the pull channel's receive runs here
        stack.callback(gw.close)
        log = tmp_path / "serve.log"
        base = stack.enter_context(serve(config, free_port(), log))
        service = redis if restarted == "redis" else postgres
        feeders = [threading.Thread(target=portal_feeder, args=(base, run, bodies), daemon=True),
                   threading.Thread(target=pull_feeder, args=(gw, run), daemon=True)]
        for feeder in feeders:
            feeder.start()
        reports: list[tuple[int, dict[str, Any]]] = []
        shown: list[str] = []
        hooks_during: list[int] = []  # webhooks delivered in the middle of each outage
        try:
            browser = console_login(base)
            stack.callback(browser.close)
            for _ in range(OUTAGES):
                time.sleep(1.5)
                service.stop(signal.SIGINT if restarted == "postgresql" else signal.SIGTERM)
                time.sleep(0.5)
                reports.append(readiness(base))
                shown.append(console_system(browser))
                hooks_before = len(run.hooks)
                time.sleep(2.0)  # traffic goes on against the outage
                hooks_during.append(len(run.hooks) - hooks_before)
                service.start()
            time.sleep(1.5)
        finally:
            run.stop.set()
            for feeder in feeders:
                feeder.join(60)

        # what a source did not get acknowledged, it sends again
        with httpx.Client(base_url=base, timeout=30) as http:
            auth = http.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": "portal",
                                                   "client_secret": SECRETS["portal"]}).json()["access_token"]
            for key in [k for k in bodies if k not in run.portal_cases]:
                deadline = time.monotonic() + 30
                while submit(http, auth, key, bodies[key], run) not in (200, 201):
                    assert time.monotonic() < deadline, f"portal {key} refused after the recovery: {run.odd_answers}"
                    time.sleep(0.5)
        for source_id in sorted(run.refused):
            gw.pipeline.receive(portal_message(source_id))
        expected = len(bodies) + len(run.received) + len(run.refused)

        def drained() -> bool:
            with gw.db.reading() as conn:
                made = conn.execute(select(func.count()).select_from(cases)).scalar_one()
                pending = conn.execute(select(func.count()).select_from(outbox)
                                       .where(outbox.c.state != "done")).scalar_one()
            return bool(made >= expected and pending == 0)

        deadline = time.monotonic() + 90
        while not drained():
            assert time.monotonic() < deadline, f"the backlog did not drain; log:\n{log.read_text()[-3000:]}"
            time.sleep(0.3)
        time.sleep(2.5)  # a lease period: a late duplicate would show up now
        final = readiness(base)
        with gw.db.reading() as conn:
            case_rows = conn.execute(select(cases.c.id, cases.c.inbox_id)).all()
            sources = dict(conn.execute(select(inbox.c.id, inbox.c.source_id)).all())
            states = dict(conn.execute(select(inbox.c.state, func.count()).group_by(inbox.c.state)).all())

    assert not run.odd_answers, f"the portal answered other than 201 or 503 problem+json: {run.odd_answers[:3]}"
    for status, body in reports:
        assert status == 503 and body["status"] == "not ready", (status, body)
        down, up = ("queue", "store") if restarted == "redis" else ("store", "queue")
        assert body["checks"][down].startswith("unavailable"), body
        if restarted == "redis":
            assert body["checks"][up] == "ok", body
    for page in shown:
        if restarted == "redis":
            assert "nicht erreichbar Warteschlange" in page and "erreichbar Datenbank" in page, page[:2000]
        else:  # the console's sessions live in the database: while it is away, the console says so
            assert page.startswith("503"), page
    answers = collections.Counter(s for statuses in run.portal_answers.values() for s in statuses)
    if restarted == "redis":
        assert set(answers) == {201}, f"the portal must keep accepting while only Redis is away: {answers}"
        # the outbox needs only the database: local processing hears of new cases during the outage
        assert sum(hooks_during) > 0, f"no webhook went out while Redis was away: {hooks_during}"
    assert final[0] == 200, final
    case_sources = collections.Counter(sources[r.inbox_id] for r in case_rows)
    assert set(case_sources.values()) == {1}, "a source message became two cases"
    pulled = {s for s in case_sources if s.startswith("pull-")}
    assert pulled == run.received | run.refused, \
        f"received but no case: {sorted(run.received - pulled)[:5]}"
    assert {run.portal_cases[k] for k in bodies} <= {r.id for r in case_rows}
    assert len(case_rows) == expected
    assert states == {"committed": expected}, states
    arrived = collections.Counter(run.hooks)
    assert set(arrived) == {r.id for r in case_rows}, "a case's webhook is missing (or a stranger arrived)"
    assert all(len(ids) == 1 for ids in run.hook_ids.values()), "a case got two different case.received events"
    twice = sum(1 for n in arrived.values() if n > 1)
    if restarted == "redis":  # the database stayed: every delivery was recorded, none went twice
        assert twice == 0, f"{twice} webhooks came twice although the database never went away"
    # else: a delivery whose "done" met the database away goes again, as the same event (same webhook-id):
    # at least once, as webhooks are; the receiver recognises the repeat
    print(f"{restarted}: {OUTAGES} outages; webhooks during each: {hooks_during}, {twice} repeated; "
          f"portal answers {dict(answers)}; "
          f"pull: {len(run.received)} received, "
          f"{len(run.refused)} refused and sent again; {len(case_rows)} cases")

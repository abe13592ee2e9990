"""No personal data in logs or metrics (issue 13, item 3): ``rathaus-gateway serve`` runs as a
real process (the API, and the worker in a process of its own) against the sandboxes, the demo
traffic of every channel goes through — a citizen's SAML login, every portal form with the
citizen's session, the FIT-Connect EfA sender, the XTA state portal, a refused application
and a failing webhook receiver — and ALL log output of both processes and the ``/metrics`` page
are searched for the demo people's names, birth dates and addresses.

On the way it checks what the logs and metrics must be: every log line a JSON object naming
its process's role, the worker's lines about a message naming that message's correlation id,
and counters from both processes summed on one page.

More channels (reply channels, once they exist) join by adding a feeder to ``FEEDERS``."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.citizen_login.sandbox.app import create_app as create_login_sandbox
from adapters.citizen_login.testing import idp_options, login_options
from adapters.fitconnect import demo as fitconnect_demo
from adapters.fitconnect import testing as fitconnect_testing
from adapters.fitconnect.sandbox.app import create_app as create_fitconnect_sandbox
from adapters.fitconnect.sandbox.config import DEMO_DESTINATION, demo_config
from adapters.xta import demo as xta_demo
from adapters.xta import testing as xta_testing
from adapters.xta.sandbox.app import create_app as create_xta_sandbox
from gateway.config import Settings
from gateway.demo import portal_samples
from tests.conftest import REPO, SECRETS, TENANT, TEST_MASTER_KEY, client_configs
from tests.e2e.citizen_login.conftest import form_of
from tests.e2e.observability import personal_data
from tests.support.servers import free_port, serve_app

METRICS_TOKEN = "metrics-scraper-token-for-the-test-0123456789"


@dataclass
class Stack:
    gateway: str
    sandboxes: dict[str, str]
    log: Path
    webhook_calls: list[int] = field(default_factory=list)
    submitted: list[str] = field(default_factory=list)  # what the feeders report they did
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, client: str) -> str:
        # one token per client, as a real client keeps it (the token endpoint is rate limited)
        if client not in self.tokens:
            self.tokens[client] = self._new_token(client)
        return self.tokens[client]

    def _new_token(self, client: str) -> str:
        response = httpx.post(f"{self.gateway}/oauth/token", data={
            "grant_type": "client_credentials", "client_id": client, "client_secret": SECRETS[client]})
        response.raise_for_status()
        return str(response.json()["access_token"])

    def get(self, path: str, client: str, **params: Any) -> Any:
        response = httpx.get(self.gateway + path, params=params, timeout=30,
                             headers={"Authorization": f"Bearer {self.token(client)}"})
        assert response.status_code == 200, response.text
        return response.json()


def webhook_receiver(calls: list[int]) -> Starlette:
    """Local processing that fails its first two deliveries (so the retry path logs too)."""
    async def hook(request: Request) -> Response:
        await request.body()
        calls.append(len(calls))
        return Response(status_code=500 if len(calls) <= 2 else 204)

    return Starlette(routes=[Route("/hook", hook, methods=["POST"])])


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def running_stack(tmp_path: Path) -> Iterator[Stack]:
    gateway_port = free_port()
    gateway = f"http://127.0.0.1:{gateway_port}"
    login_port = free_port()
    login_url = f"http://127.0.0.1:{login_port}"
    calls: list[int] = []
    with ExitStack() as stack:
        fitconnect = stack.enter_context(serve_app(create_fitconnect_sandbox(demo_config(
            callback_url=f"{gateway}/v1/channels/fitconnect/callbacks/{DEMO_DESTINATION}")), health_path="/health"))
        xta = stack.enter_context(serve_app(create_xta_sandbox(), health_path="/health"))
        with environment({"CITIZEN_LOGIN_SANDBOX_URL": login_url, "CITIZEN_LOGIN_SANDBOX_GATEWAY_URL": gateway}):
            login_app = create_login_sandbox()
        stack.enter_context(serve_app(login_app, port=login_port))
        hooks = stack.enter_context(serve_app(webhook_receiver(calls)))
        config = tmp_path / "gateway.yaml"
        config.write_text(yaml.safe_dump({
            "demo": True,  # the sandboxes' published credentials
            "data_dir": str(tmp_path / "data"), "mappings_dir": str(REPO / "mappings"),
            "fixtures_dir": str(REPO / "fixtures"), "token_signing_key": "pii-test-signing-key-0123456789abcdef",
            "at_rest": {"master_keys": [TEST_MASTER_KEY]},
            "clients": [c.model_dump() for c in client_configs()],
            "webhooks": [{"name": "fachverfahren", "url": hooks + "/hook", "secret": "pii-test-webhook-secret-0123"}],
            "metrics": {"token": METRICS_TOKEN}, "log_level": "DEBUG",
            "poll_interval_seconds": 0.3, "worker_idle_seconds": 0.1,
            "backoff_base_seconds": 0.05, "backoff_max_seconds": 0.2,
            "adapters": {
                "portal": {},
                "fitconnect": fitconnect_testing.gateway_options(fitconnect, issuer=fitconnect, poll_interval=0.5),
                "xta": xta_testing.options(xta, poll_interval_seconds=0.5),
                "citizen_login": login_options(gateway, [login_url], [idp_options(
                    metadata_url=f"{login_url}/idp/metadata")]),
            },
        }), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RG_", "PROMETHEUS_"))}
        env["RG_CONFIG_FILE"] = str(config)
        log = tmp_path / "serve.log"
        with log.open("wb") as out:
            # a session of its own: the end of the test stops exactly this group (serve and its worker)
            process = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--port", str(gateway_port)],
                                       env=env, stdout=out, stderr=out, start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(gateway + "/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.1)
            yield Stack(gateway=gateway, sandboxes={"fitconnect": fitconnect, "xta": xta, "citizen_login": login_url},
                        log=log, webhook_calls=calls)
        finally:
            os.killpg(process.pid, signal.SIGTERM)  # serve stops its worker; both flush their logs
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


# -- the demo traffic of each channel ---------------------------------------------------------
def citizen_login_and_portal(stack: Stack) -> None:
    """Erika logs in at the sandbox identity provider (SAML, trust level substantiell); every
    portal form's sample goes in with her session; one application is refused."""
    login, gateway = stack.sandboxes["citizen_login"], stack.gateway
    with httpx.Client(timeout=30) as browser:
        start = browser.get(f"{gateway}/v1/citizen/login/{TENANT}/sandbox",
                            params={"level": "substantiell", "return_to": f"{login}/portal/callback"})
        assert start.status_code == 200, start.text
        action, fields = form_of(start.text)
        action, fields = form_of(browser.post(action, data=fields).text)
        answer = browser.post(action, data={**fields, "action": "login", "account": "erika",
                                            "level": "STORK-QAA-Level-3"})
        action, fields = form_of(answer.text)
        acs = browser.post(action, data=fields)
    assert acs.status_code == 303, acs.text
    code = httpx.URL(acs.headers["location"]).params["code"]
    portal = {"Authorization": f"Bearer {stack.token('portal')}"}
    session = httpx.post(f"{gateway}/v1/citizen/sessions", json={"code": code}, headers=portal, timeout=30)
    assert session.status_code == 201, session.text
    citizen = {**portal, "Citizen-Session": session.json()["session_token"]}
    settings = Settings(mappings_dir=REPO / "mappings", fixtures_dir=REPO / "fixtures")
    for tenant, leika, form, _, sample in portal_samples(settings):
        response = httpx.post(f"{gateway}/v1/applications", timeout=30, headers={
            **citizen, "Idempotency-Key": f"pii-{uuid.uuid4()}"}, json={
            "tenant": tenant, "service": leika, "form": form, "submitted_at": dt.datetime.now(dt.UTC).isoformat(),
            "reply_channel": {"kind": "postbox", "address": "postfach:demo"}, "data": json.loads(sample)})
        assert response.status_code in (201, 403), response.text  # 403: the form needs a higher trust level
        stack.submitted.append(f"portal {form}: {response.status_code}")
    refused = httpx.post(f"{gateway}/v1/applications", timeout=30, headers={
        **citizen, "Idempotency-Key": f"pii-{uuid.uuid4()}"}, json={
        "tenant": TENANT, "service": "99108008001000", "form": "hund-anmelden",
        "submitted_at": dt.datetime.now(dt.UTC).isoformat(),
        "data": {"halter": {"vorname": "Erika", "nachname": "Mustermann", "geburtsdatum": "29.02.1980"},
                 "hund": {"name": 4711}}})
    assert refused.status_code == 422, refused.text


def fitconnect_efa_sender(stack: Stack) -> None:
    fitconnect_demo.run(stack.gateway, stack.sandboxes, wait_seconds=90)
    stack.submitted.append("fitconnect demo")


def xta_state_portal(stack: Stack) -> None:
    xta_demo.run(stack.gateway, stack.sandboxes)
    stack.submitted.append("xta demo")


FEEDERS: list[Callable[[Stack], None]] = [citizen_login_and_portal, fitconnect_efa_sender, xta_state_portal]


EVERY_CHANNEL = {"portal", "fitconnect", "xta"}


def settled(stack: Stack) -> bool:
    """Nothing waits any more: no open inbox entry, no pending outbox row."""
    for state in ("received", "retry"):
        if stack.get("/v1/admin/inbox", "admin", state=state):
            return False
    return not stack.get("/v1/admin/outbox", "admin", state="pending")


def all_cases(stack: Stack) -> list[dict[str, Any]]:
    page = stack.get("/v1/cases", "fach", limit=500)
    return [stack.get(f"/v1/cases/{item['id']}", "fach") for item in page["items"]]


def test_no_personal_data_in_the_logs_and_metrics_of_every_channel(tmp_path: Path) -> None:
    with running_stack(tmp_path) as stack:
        for feed in FEEDERS:
            feed(stack)
        # XTA messages wait in the mailbox until the next poll, so an empty inbox alone is not the end
        deadline = time.monotonic() + 120
        while True:
            cases = all_cases(stack)
            if settled(stack) and {case["source"]["channel"] for case in cases} >= EVERY_CHANNEL:
                break
            assert time.monotonic() < deadline, "the gateway did not finish the demo traffic"
            time.sleep(0.5)
        scraped = httpx.get(stack.gateway + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert scraped.status_code == 200
        metrics = scraped.text
        adapters = {(a["kind"], a["name"]): a for a in stack.get("/v1/admin/adapters", "admin")["adapters"]}
    log = stack.log.read_text(encoding="utf-8", errors="replace")

    channels = {case["source"]["channel"] for case in cases}
    assert channels == EVERY_CHANNEL, channels
    assert len(stack.webhook_calls) >= len(cases) + 2

    # the health the worker process recorded, served by the API process
    for key in (("source", "fitconnect"), ("source", "xta"), ("acknowledger", "xta"), ("acknowledger", "fitconnect"),
                ("webhook", "fachverfahren")):
        assert adapters[key]["circuit"] == "closed", (key, adapters[key])
    assert adapters[("source", "xta")]["last_success_at"] is not None

    # counters of both processes on one page: intake of the portal in the API process, the rest
    # (pull channels, acknowledgements, webhooks) in the worker process
    def total(name: str, **labels: str) -> float:
        value = 0.0
        for line in metrics.splitlines():
            if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
                value += float(line.rsplit(" ", 1)[1])
        return value

    assert total("rg_intake_total", channel="portal", outcome="committed") == sum(
        1 for c in cases if c["source"]["channel"] == "portal")
    assert total("rg_intake_total", channel="xta", outcome="committed") == sum(
        1 for c in cases if c["source"]["channel"] == "xta")
    assert total("rg_intake_total", channel="portal", outcome="refused") >= 1
    assert total("rg_outbox_deliveries_total", kind="ack", target="xta", outcome="delivered") >= 1
    assert total("rg_outbox_deliveries_total", kind="webhook", outcome="retry") == 2
    assert total("rg_outbox_delivery_seconds_count", kind="ack", target="fitconnect") >= 1

    # every line of both processes is one JSON object; the worker names the message it works on
    records = [json.loads(line) for line in log.splitlines() if line.strip()]
    assert {r["role"] for r in records} == {"api", "worker"}
    worker_ids = {r["correlation_id"] for r in records if r["role"] == "worker" and r["correlation_id"]}
    closed = [r for r in records if r["role"] == "worker" and r["message"].startswith("xta message")]
    assert closed and all(r["correlation_id"] for r in closed), "the acknowledgement names its message"
    assert worker_ids, "the worker's records name correlation ids"

    searched = personal_data.patterns([*personal_data.from_fixtures(),
                                       *(value for case in cases for value in personal_data.from_case(case))])
    assert len(searched) > 100 and "Mustermann" in searched and "29.02.1980" in searched
    decoded = "\n".join(json.dumps(r, ensure_ascii=False) for r in records)  # whatever escaping the lines use
    found = [*personal_data.hits(log, searched), *personal_data.hits(decoded, searched),
             *personal_data.hits(metrics, searched)]
    assert not found, "personal data in the logs or metrics:\n" + "\n".join(f"{v!r}: {line}" for v, line in found)

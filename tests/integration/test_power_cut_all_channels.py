"""Power cuts at random moments of a run with traffic on every channel (issue 13, item 7).

Per cut: ``rathaus-gateway serve`` (embedded profile, its worker a process of its own) runs with
its data folder on the power-cut filesystem (tests/support/powercut: only what was fsync'd
survives); the portal backend submits applications (JSON, and multipart with a PDF), an EfA
online service sends FIT-Connect submissions, the state portal posts XTA messages, all at once.
At a random moment the power goes (every later write fails, nothing unsynced survives), the
processes die, the filesystem is unmounted and the gateway starts again on what the disk held,
against the same sandboxes. Then:

* every message the gateway acknowledged upstream (portal: its 201; FIT-Connect: the
  accept-submission in the Zustelldienst's event log; XTA: the close at the server) is a case
  whose raw original and attachments are readable with the SHA-512 the case records;
* every message not acknowledged is taken in again from its source: FIT-Connect and XTA by the
  restarted gateway's polling, the portal's by its backend sending it again under the same
  Idempotency-Key — and each source message is exactly one case, acknowledged exactly once.

``FAULT_CUTS`` sets the number of cuts (``make test``: 2, ``make soak``: 100); ``FAULT_SEED``
repeats a run's random moments."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from adapters.fitconnect import testing as fitconnect_testing
from adapters.fitconnect.outbound import Created
from adapters.fitconnect.sandbox.app import create_app as fitconnect_sandbox
from adapters.fitconnect.sandbox.config import DEMO_DESTINATION, demo_config
from adapters.xta import samples
from adapters.xta import testing as xta_testing
from adapters.xta.client import Content, XtaClient
from adapters.xta.sandbox.app import create_app as xta_sandbox
from gateway.api.app import create_app
from gateway.bootstrap import Gateway
from gateway.config import Settings
from gateway.store import case_repo
from tests.conftest import REPO, SECRETS, TENANT, TEST_MASTER_KEY, client_configs
from tests.integration.test_power_cut import provision_data_dir
from tests.support.powercut import mounted
from tests.support.servers import free_port, serve_app

CUTS = int(os.environ.get("FAULT_CUTS", "2"))
SAMPLE = json.loads((REPO / "fixtures" / "mappings" / "portal.brauchtumsfeuer" / "osterfeuer-privatperson.input.json")
                    .read_text(encoding="utf-8"))
FITCONNECT_APPLICATIONS = ["gewerbe-anmelden-fahrradservice", "gewerbe-anmelden-gmbh", "gewerbe-abmelden-kiosk"]


def sha512(content: bytes) -> str:
    return hashlib.sha512(content).hexdigest()


@dataclass
class Traffic:
    """What each source sent, and what the portal saw acknowledged."""

    # idempotency key -> (PDF or None, envelope)
    portal_sent: dict[str, tuple[bytes | None, dict[str, Any]]] = field(default_factory=dict)
    portal_acknowledged: dict[str, str] = field(default_factory=dict)    # idempotency key -> case id
    fitconnect: list[Created] = field(default_factory=list)
    xta: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)


def gateway_config(path: Path, data_dir: Path, urls: dict[str, str]) -> Path:
    path.write_text(yaml.safe_dump({
        "demo": True,  # the sandboxes' published test keys and secrets
        "profile": "embedded", "data_dir": str(data_dir), "mappings_dir": str(REPO / "mappings"),
        "fixtures_dir": str(REPO / "fixtures"), "token_signing_key": "power-cut-all-channels-key-0123456789abc",
        "at_rest": {"master_keys": [TEST_MASTER_KEY]},
        "clients": [c.model_dump() for c in client_configs()],
        "poll_interval_seconds": 0.2, "worker_idle_seconds": 0.05, "job_lease_seconds": 2.0,
        "delivery_lease_seconds": 2.0, "backoff_base_seconds": 0.05, "backoff_max_seconds": 0.3,
        "adapters": {
            "portal": {},
            "fitconnect": fitconnect_testing.gateway_options(urls["fitconnect"], issuer=urls["fitconnect"],
                                                             poll_interval=0.3),
            "xta": xta_testing.options(urls["xta"], poll_interval_seconds=0.2),
        },
    }), encoding="utf-8")
    return path


@contextmanager
def serve(config: Path, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RG_", "PROMETHEUS_"))}
    env["RG_CONFIG_FILE"] = str(config)
    with log.open("ab") as out:  # the log lives outside the power-cut filesystem
        process = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--port", str(port)], env=env,
                                   stdout=out, stderr=out, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.1)
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # the power is gone: nobody shuts down in order
        process.wait(10)


def portal_application(index: int) -> tuple[str, bytes | None, dict[str, Any]]:
    pdf = None if index % 3 == 0 else (b"%PDF-1.7\n" + f"Lageplan {index}\n".encode() + os.urandom(20_000)
                                       + b"\n%%EOF\n")
    envelope: dict[str, Any] = {"tenant": TENANT, "service": "99089011001000", "form": "brauchtumsfeuer",
                                "submitted_at": dt.datetime.now(dt.UTC).isoformat(), "data": SAMPLE,
                                "attachments": []}
    if pdf is not None:
        envelope["attachments"] = [{"id": "lageplan", "filename": f"lageplan-{index}.pdf",
                                    "media_type": "application/pdf", "sha512": sha512(pdf)}]
    return f"power-cut-{index:05d}", pdf, envelope


def send_portal(http: httpx.Client, auth: str, key: str, pdf: bytes | None, envelope: dict[str, Any]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {auth}", "Idempotency-Key": key}
    if pdf is None:
        return http.post("/v1/applications", json=envelope, headers=headers)
    return http.post("/v1/applications", headers=headers, files=[
        ("application", ("application.json", json.dumps(envelope).encode(), "application/json")),
        ("lageplan", ("lageplan.pdf", pdf, "application/pdf"))])


def portal_feeder(base: str, traffic: Traffic, first: int, step: int) -> None:
    with httpx.Client(base_url=base, timeout=10) as http:
        try:
            auth = http.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": "portal",
                                                   "client_secret": SECRETS["portal"]}).json()["access_token"]
        except (httpx.HTTPError, KeyError, ValueError):
            return  # the power went before the first token
        index = first
        while not traffic.stop.is_set():
            key, pdf, envelope = portal_application(index)
            with traffic.lock:
                traffic.portal_sent[key] = (pdf, envelope)
            try:
                response = send_portal(http, auth, key, pdf, envelope)
            except httpx.HTTPError:
                response = None
            if response is not None and response.status_code == 201:
                with traffic.lock:
                    traffic.portal_acknowledged[key] = str(response.json()["case_id"])
            index += step
            time.sleep(0.2)


def fitconnect_feeder(url: str, traffic: Traffic) -> None:
    sender = fitconnect_testing.efa_sender(url)
    index = 0
    while not traffic.stop.is_set():
        created = sender.send(fitconnect_testing.application(FITCONNECT_APPLICATIONS[index % 3]))
        with traffic.lock:
            traffic.fitconnect.append(created)
        index += 1
        time.sleep(0.8)


def xta_feeder(url: str, traffic: Traffic) -> None:
    kinds = [(kind, fixture) for kind in (samples.WOHNGELD, samples.GEWERBE) for fixture in kind.fixtures()]
    index = 0
    with httpx.Client(timeout=30) as http:
        portal = XtaClient(url, samples.STATE_PORTAL, http)
        while not traffic.stop.is_set():
            kind, fixture = kinds[index % len(kinds)]
            pdf = b"%PDF-1.4\n% TEST Nachweis " + str(index).encode() + b"\n" + os.urandom(8_000) + b"\n%%EOF\n"
            attachment = Content(pdf, "application/pdf", f"nachweis-{index}.pdf", "Nachweis (TEST)")
            message_id = samples.post(portal, kind, fixture.read_bytes(), [attachment])
            with traffic.lock:
                traffic.xta.append(message_id)
            index += 1
            time.sleep(0.8)


def defects(gw: Gateway, case: Any, sent_pdf: bytes | None = None) -> list[str]:
    found: list[str] = []
    try:
        if sha512(gw.blobs.get(case.original.storage_key)) != case.original.sha512:
            found.append(f"case {case.reference}: the raw original does not match its SHA-512")
    except Exception as exc:  # a missing blob is a defect to report, whatever the store raises
        found.append(f"case {case.reference}: the raw original cannot be read ({type(exc).__name__})")
    for attachment in case.attachments:
        try:
            content = gw.blobs.get(attachment.storage_key)
        except Exception as exc:  # as above
            found.append(f"case {case.reference}: attachment {attachment.id} cannot be read ({type(exc).__name__})")
            continue
        if sha512(content) != attachment.sha512:
            found.append(f"case {case.reference}: attachment {attachment.id} does not match its SHA-512")
    if sent_pdf is not None and [a.sha512 for a in case.attachments] != [sha512(sent_pdf)]:
        found.append(f"case {case.reference}: the attachment is not the one the portal sent")
    return found


def one_cut(tmp_path: Path, rng: random.Random) -> dict[str, int]:
    with ExitStack() as stack:
        gateway_port = free_port()
        fitconnect_app = fitconnect_sandbox(demo_config(
            callback_url=f"http://127.0.0.1:{gateway_port}/v1/channels/fitconnect/callbacks/{DEMO_DESTINATION}"))
        xta_app = xta_sandbox()
        urls = {"fitconnect": stack.enter_context(serve_app(fitconnect_app, health_path="/health")),
                "xta": stack.enter_context(serve_app(xta_app, health_path="/health"))}
        sandbox, xta_state = fitconnect_app.state.sandbox, xta_app.state.xta
        traffic = Traffic()
        log = tmp_path / "serve.log"
        with mounted(tmp_path / "fs") as fs:
            config = gateway_config(tmp_path / "gateway.yaml", provision_data_dir(fs), urls)
            with serve(config, gateway_port, log):
                base = f"http://127.0.0.1:{gateway_port}"
                feeders = [threading.Thread(target=portal_feeder, args=(base, traffic, n, 2)) for n in range(2)]
                feeders += [threading.Thread(target=fitconnect_feeder, args=(urls["fitconnect"], traffic)),
                            threading.Thread(target=xta_feeder, args=(urls["xta"], traffic))]
                for feeder in feeders:
                    feeder.start()
                # the random moment: once the worker acknowledges on both pull channels (or had its
                # chance to), at any time in the next seconds
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline and not (
                        any(sandbox.submission(c.submission_id).status == "accepted" for c in list(traffic.fitconnect))
                        and any(xta_state.calls[f"closed:{mid}"] for mid in list(traffic.xta))):
                    time.sleep(0.05)
                time.sleep(rng.uniform(0.0, 3.0))
                fs.power_off()
                # what the sources hold acknowledged at the moment of the cut
                accepted_at_cut = {c.submission_id for c in list(traffic.fitconnect)
                                   if sandbox.submission(c.submission_id).status == "accepted"}
                closed_at_cut = {mid for mid in list(traffic.xta) if xta_state.calls[f"closed:{mid}"]}
                traffic.stop.set()
                for feeder in feeders:
                    feeder.join(30)
            fs.unmount()  # ends the cut: the backing folder now holds only what was durable
        acknowledged_portal = dict(traffic.portal_acknowledged)

        after_config = gateway_config(tmp_path / "after.yaml", fs.backing / "var", urls)
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("RG_CONFIG_FILE", str(after_config))
            try:
                gw = Gateway.create(Settings())
            except Exception as exc:
                raise AssertionError(f"after the power cut the gateway does not start on what the disk held: "
                                     f"{exc!r}") from exc
        try:
            # before anything is taken in again: what was acknowledged upstream is a sound case
            broken: list[str] = []
            for submission_id in accepted_at_cut:
                case = gw.queries.case_by_source("fitconnect", submission_id)
                broken += defects(gw, case) if case else [f"FIT-Connect {submission_id}: accepted, no case"]
            for message_id in closed_at_cut:
                case = gw.queries.case_by_source("xta", message_id)
                broken += defects(gw, case) if case else [f"XTA {message_id}: closed, no case"]
            for key, case_id in acknowledged_portal.items():
                with gw.db.reading() as conn:
                    case = case_repo.get_case(conn, case_id)
                broken += defects(gw, case, traffic.portal_sent[key][0]) if case else [f"portal {key}: 201, no case"]
            assert not broken, (f"{len(broken)} defects among what was acknowledged before the cut: {broken[:5]}; "
                                f"log:\n{log.read_text(errors='replace')[-2000:]}")

            # the rest is taken in again from its source
            with serve_app(create_app(gw)) as after, httpx.Client(base_url=after, timeout=30) as http:
                auth = http.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": "portal",
                                                       "client_secret": SECRETS["portal"]}).json()["access_token"]
                resent: dict[str, str] = {}
                for key, (pdf, envelope) in traffic.portal_sent.items():
                    response = send_portal(http, auth, key, pdf, envelope)
                    assert response.status_code in (200, 201), f"portal {key} again: {response.text}"
                    resent[key] = str(response.json()["case_id"])
                changed = {k: v for k, v in acknowledged_portal.items() if resent[k] != v}
                assert not changed, f"an acknowledged portal application became another case when sent again: {changed}"

                deadline = time.monotonic() + 120
                while not (all(sandbox.submission(c.submission_id).status == "accepted" for c in traffic.fitconnect)
                           and all(xta_state.calls[f"closed:{mid}"] for mid in traffic.xta)):
                    assert time.monotonic() < deadline, "the restarted gateway did not take in again what was " \
                                                        "not acknowledged"
                    gw.worker.run_once()
                    time.sleep(0.05)
                gw.worker.run_until_idle()

            with gw.db.reading() as conn:
                every_case = [case for _, case in case_repo.list_cases(conn, case_repo.CaseFilter(limit=100_000))]
            by_source = Counter((c.source.channel, c.source.id) for c in every_case)
            expected = len(traffic.portal_sent) + len(traffic.fitconnect) + len(traffic.xta)
            assert len(every_case) == expected and set(by_source.values()) == {1}, \
                f"{len(every_case)} cases for {expected} source messages; doubles: " \
                f"{[k for k, n in by_source.items() if n > 1][:5]}"
            for created in traffic.fitconnect:
                assert gw.queries.case_by_source("fitconnect", created.submission_id) is not None
                assert sandbox.event_names(created.case_id).count("accept-submission") == 1
            for message_id in traffic.xta:
                assert gw.queries.case_by_source("xta", message_id) is not None
                assert xta_state.calls[f"closed:{message_id}"] == 1
            broken = [d for case in every_case for d in defects(gw, case)]
            assert not broken, f"defects after the intake again: {broken[:5]}"
        finally:
            gw.close()
        return {"portal": len(traffic.portal_sent), "portal_acknowledged": len(acknowledged_portal),
                "fitconnect": len(traffic.fitconnect), "fitconnect_acknowledged": len(accepted_at_cut),
                "xta": len(traffic.xta), "xta_acknowledged": len(closed_at_cut)}


def test_power_cuts_with_traffic_on_every_channel_lose_nothing_acknowledged(tmp_path: Path) -> None:
    seed = int(os.environ.get("FAULT_SEED", str(time.time_ns() % 1_000_000)))
    rng = random.Random(seed)
    totals: Counter[str] = Counter()
    for cut in range(CUTS):
        try:
            totals.update(one_cut(tmp_path / f"cut-{cut:03d}", rng))
        except AssertionError as exc:
            raise AssertionError(f"cut {cut + 1} of {CUTS} (FAULT_SEED={seed}): {exc}") from None
    assert totals["portal"] and totals["fitconnect"] and totals["xta"], f"a channel had no traffic: {totals}"
    print(f"seed {seed}: {CUTS} cuts; {dict(totals)}")

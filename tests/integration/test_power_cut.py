"""A power cut after the acknowledgement loses nothing (embedded profile: SQLite + blob files).

`rathaus-gateway serve` runs with its data folder on the test suite's power-cut filesystem
(tests/support/powercut: only what was fsync'd, file data and directory entries alike,
survives a cut). Portal applications, JSON and multipart with an attachment, are each
acknowledged with 201; then the gateway is killed (SIGKILL) and the power cut. A gateway started
on what the disk still holds must show every acknowledged application as a case, its raw
original and its attachments present with the SHA-512 the case records.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from gateway.api.app import create_app
from gateway.bootstrap import Gateway
from tests.conftest import SECRETS, TENANT, TEST_MASTER_KEY, TESTDATA, client_configs, make_settings
from tests.support.powercut import PowerCutMount, mounted
from tests.support.servers import free_port, serve_app

APPLICATIONS = 30
SIGNING_KEY = "power-cut-signing-key-0123456789abcdef0123"


def sha512(content: bytes) -> str:
    return hashlib.sha512(content).hexdigest()


def provision_data_dir(fs: PowerCutMount) -> Path:
    """The installation's data folder, made durable the way an installer would (mkdir, then
    fsync of its parent); everything inside it is the gateway's to make durable."""
    data_dir = fs.path / "var"
    data_dir.mkdir(mode=0o700)
    fd = os.open(fs.path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return data_dir


def start_gateway(tmp_path: Path, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump({
        "profile": "embedded", "data_dir": str(data_dir),
        "mappings_dir": str(TESTDATA / "mappings"), "fixtures_dir": str(TESTDATA / "fixtures"),
        "token_signing_key": SIGNING_KEY, "clients": [c.model_dump() for c in client_configs()],
        "at_rest": {"master_keys": [TEST_MASTER_KEY]},
    }), encoding="utf-8")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RG_")}
    env["RG_CONFIG_FILE"] = str(config)
    log = tmp_path / "serve.log"  # outside the power-cut filesystem
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"the gateway did not become ready; its log:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)


def token(http: httpx.Client, client_id: str) -> str:
    response = http.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": client_id,
                                               "client_secret": SECRETS[client_id]})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def envelope(index: int, attachments: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "tenant": TENANT, "service": "99108008001000", "form": "test-hund",
        "submitted_at": dt.datetime.now(dt.UTC).isoformat(), "attachments": attachments,
        "data": {"halter": {"vorname": "Erika", "nachname": "Mustermann"}, "hund": {"name": f"Hund {index}"}},
    }


def submit(http: httpx.Client, auth: str, index: int) -> tuple[str, dict[str, str]]:
    """Send application ``index`` (every third one JSON, the others multipart with a PDF);
    returns the acknowledged case id and the attachments' SHA-512 by attachment id."""
    headers = {"Authorization": f"Bearer {auth}", "Idempotency-Key": f"power-cut-{index:04d}"}
    if index % 3 == 0:
        response = http.post("/v1/applications", json=envelope(index, []), headers=headers)
        sent: dict[str, str] = {}
    else:
        pdf = b"%PDF-1.7\n" + f"Nachweis {index}\n".encode() + os.urandom(24_000) + b"\n%%EOF\n"
        sent = {"nachweis": sha512(pdf)}
        ref = {"id": "nachweis", "filename": f"nachweis-{index}.pdf", "media_type": "application/pdf",
               "sha512": sent["nachweis"]}
        response = http.post("/v1/applications", headers=headers, files=[
            ("application", ("application.json", json.dumps(envelope(index, [ref])).encode(), "application/json")),
            ("nachweis", ("nachweis.pdf", pdf, "application/pdf"))])
    assert response.status_code == 201, f"application {index}: {response.status_code} {response.text}"
    return str(response.json()["case_id"]), sent


def defects(http: httpx.Client, gw: Gateway, case_id: str, sent: dict[str, str]) -> list[str] | None:
    """What is wrong with one acknowledged case after the cut ([]: nothing; None: no such case)."""
    response = http.get(f"/v1/cases/{case_id}")
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        return [f"case {case_id}: {response.status_code} {response.text[:200]}"]
    case = response.json()
    found: list[str] = []
    original = case["original"]
    try:
        if sha512(gw.blobs.get(original["storage_key"])) != original["sha512"]:
            found.append(f"case {case_id}: the raw original does not match its SHA-512")
    except Exception as exc:  # a missing blob is a defect to report, whatever the store raises
        found.append(f"case {case_id}: the raw original cannot be read ({type(exc).__name__})")
    attachments = {a["id"]: a for a in case["attachments"]}
    if set(attachments) != set(sent):
        found.append(f"case {case_id}: attachments {sorted(attachments)}, sent {sorted(sent)}")
    for att_id in set(attachments) & set(sent):
        download = http.get(f"/v1/cases/{case_id}/attachments/{att_id}")
        if download.status_code != 200:
            found.append(f"case {case_id}: attachment {att_id}: {download.status_code}")
        elif sha512(download.content) != sent[att_id] or attachments[att_id]["sha512"] != sent[att_id]:
            found.append(f"case {case_id}: attachment {att_id} does not match the SHA-512 sent")
    return found


def test_every_acknowledged_application_survives_a_power_cut(tmp_path: Path) -> None:
    with mounted(tmp_path / "fs") as fs:
        data_dir = provision_data_dir(fs)
        proc, base = start_gateway(tmp_path, data_dir)
        try:
            with httpx.Client(base_url=base, timeout=30) as http:
                auth = token(http, "portal")
                with ThreadPoolExecutor(4) as pool:  # as many as the portal's intake slots
                    acknowledged = dict(pool.map(lambda i: submit(http, auth, i), range(APPLICATIONS)))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        fs.cut()

    # the disk as the power cut left it, read directly (no FUSE any more)
    after_cut = fs.backing / "var"
    try:
        gw = Gateway.create(make_settings(after_cut))
    except Exception as exc:
        raise AssertionError(f"{len(acknowledged)} applications acknowledged with 201; after the power cut "
                             f"the gateway does not start on what the disk held: {exc!r}") from exc
    try:
        with serve_app(create_app(gw)) as after, httpx.Client(base_url=after, timeout=30) as http:
            http.headers["Authorization"] = f"Bearer {token(http, 'fach')}"
            problems = {case_id: defects(http, gw, case_id, sent) for case_id, sent in acknowledged.items()}
    finally:
        gw.close()
    cases_after = sum(1 for found in problems.values() if found is not None)
    broken = [p for found in problems.values() for p in found or ()]
    if cases_after < len(acknowledged) or broken:
        pytest.fail(f"{len(acknowledged)} applications acknowledged with 201 before the power cut, {cases_after} "
                    f"of them are cases after it; {len(broken)} defects among those: {broken[:5]}", pytrace=False)

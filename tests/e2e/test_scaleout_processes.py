"""Scale-out: two `serve` and two `worker` processes on one PostgreSQL and one Redis.

The same applications are sent to both API processes at once (same Idempotency-Key): each
becomes exactly one case; the workers deliver each case's webhook exactly once between them.
"""

from __future__ import annotations

import collections
import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import yaml
from fastapi import FastAPI, Request

from gateway.outbox.webhooks import verify
from tests.conftest import SECRETS, TENANT, TEST_MASTER_KEY, TESTDATA, client_configs
from tests.support.servers import free_port, serve_app

APPLICATIONS = 20
WEBHOOK_SECRET = "scaleout-webhook-secret-0123456789"


def receiver() -> tuple[FastAPI, list[dict[str, Any]]]:
    app = FastAPI()
    seen: list[dict[str, Any]] = []
    lock = threading.Lock()

    @app.post("/hook")
    async def hook(request: Request) -> dict[str, str]:
        body = await request.body()
        assert verify(WEBHOOK_SECRET.encode(), dict(request.headers), body)
        with lock:
            seen.append(await request.json())
        return {"ok": "yes"}

    return app, seen


def write_config(path: Path, pg_url: str, redis_url: str, hook_url: str) -> Path:
    config = {
        "profile": "scaleout", "database_url": pg_url, "redis_url": redis_url,
        "queue_name": f"rg-e2e-{uuid.uuid4().hex[:8]}", "data_dir": str(path / "data"),
        "mappings_dir": str(TESTDATA / "mappings"), "fixtures_dir": str(TESTDATA / "fixtures"),
        "token_signing_key": "scaleout-signing-key-0123456789abcdef0123",
        "clients": [c.model_dump() for c in client_configs()],
        "at_rest": {"master_keys": [TEST_MASTER_KEY]}, "serve_worker": False,
        "webhooks": [{"name": "fachverfahren", "url": hook_url, "secret": WEBHOOK_SECRET}],
        "worker_idle_seconds": 0.2, "job_lease_seconds": 5,
    }
    target = path / "gateway.yaml"
    target.write_text(yaml.safe_dump(config), encoding="utf-8")
    return target


def spawn(args: list[str], config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RG_")}
    env["RG_CONFIG_FILE"] = str(config)
    return subprocess.Popen([sys.executable, "-m", "gateway", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=log.open("wb"))


def wait_ready(base: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{base} did not become ready")


def test_two_servers_and_two_workers_make_each_case_once(tmp_path: Path, pg_url: str, redis_url: str) -> None:
    hook_app, deliveries = receiver()
    with serve_app(hook_app) as hook_base:
        config = write_config(tmp_path, pg_url, redis_url, hook_base + "/hook")
        ports = [free_port(), free_port()]
        procs = [spawn(["migrate"], config, tmp_path / "migrate.log")]
        assert procs[0].wait(60) == 0
        procs = [spawn(["serve", "--no-worker", "--port", str(p)], config, tmp_path / f"serve-{p}.log")
                 for p in ports]
        procs += [spawn(["worker"], config, tmp_path / f"worker-{i}.log") for i in range(2)]
        bases = [f"http://127.0.0.1:{p}" for p in ports]
        try:
            for base in bases:
                wait_ready(base, time.monotonic() + 60)
            token = httpx.post(bases[0] + "/oauth/token", data={
                "grant_type": "client_credentials", "client_id": "portal",
                "client_secret": SECRETS["portal"]}).json()["access_token"]

            submitted = dt.datetime.now(dt.UTC).isoformat()

            def submit(job: tuple[str, int]) -> tuple[str, int, str]:
                base, index = job  # the same body to both servers: a client retrying elsewhere
                response = httpx.post(base + "/v1/applications", timeout=30, headers={
                    "Authorization": f"Bearer {token}", "Idempotency-Key": f"scaleout-{index:04d}"}, json={
                    "tenant": TENANT, "service": "99108008001000", "form": "test-hund", "submitted_at": submitted,
                    "data": {"halter": {"vorname": "Erika", "nachname": "Muster"}, "hund": {"name": f"Hund{index}"}}})
                return base, response.status_code, response.json().get("case_id", response.text)

            jobs = [(base, i) for i in range(APPLICATIONS) for base in bases]
            with ThreadPoolExecutor(8) as pool:
                results = list(pool.map(submit, jobs))
            assert {status for _, status, _ in results} == {201}, [r for r in results if r[1] != 201][:3]
            by_index = collections.defaultdict(set)
            for (_, index), (_, _, case_id) in zip(jobs, results, strict=True):
                by_index[index].add(case_id)
            assert all(len(ids) == 1 for ids in by_index.values()), "one case per Idempotency-Key"
            case_ids = {next(iter(ids)) for ids in by_index.values()}
            assert len(case_ids) == APPLICATIONS

            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and len(deliveries) < APPLICATIONS:
                time.sleep(0.1)
            time.sleep(1.0)  # a late duplicate delivery would arrive now
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in procs:
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
    subjects = collections.Counter(d["subject"] for d in deliveries)
    logs = {log.name: log.read_text(errors="replace")[-800:] for log in tmp_path.glob("*.log")}
    assert set(subjects) == case_ids, f"{len(subjects)} of {len(case_ids)} delivered; logs: {logs}"
    assert set(subjects.values()) == {1}, "each case.received webhook delivered exactly once"

"""The servers of the portal benchmark: uvicorn processes (floor and gateway) on 127.0.0.1, the
gateway's configuration file per profile (a fresh SQLite data dir, or a fresh PostgreSQL schema and
Redis queue name that are dropped afterwards), and the HTTP helpers that talk to them.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from tests.perf.loadgen import process_tree

REPO = Path(__file__).resolve().parents[2]
OUT_DIR = REPO / "var" / "bench"
HOST = "127.0.0.1"
UVICORN_OPTIONS = ["--host", HOST, "--no-access-log", "--log-level", "warning", "--no-server-header",
                   "--no-proxy-headers", "--loop", "uvloop", "--http", "httptools", "--timeout-graceful-shutdown", "3"]
FLOOR_APP = "tests.perf.floor_app:create_app"
GATEWAY_APP = "gateway.asgi:create"  # the product's factory: one gateway per worker, settings from RG_*


# -- server processes ---------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def http_request(port: int, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None,
                 timeout: float = 5.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


class Server:
    """One uvicorn process (a supervisor plus workers when ``workers > 1``)."""

    def __init__(self, app: str, workers: int, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self._log: IO[bytes] = log_path.open("wb")
        self.log_path = log_path
        command = [sys.executable, "-m", "uvicorn", app, "--factory", "--port", str(self.port),
                   "--workers", str(workers), *UVICORN_OPTIONS]
        self.proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.pids: list[int] = [self.proc.pid]

    def wait_ready(self, workers: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(OSError):
                status, _ = http_request(self.port, "GET", "/healthz", timeout=2.0)
                if status == 200:
                    # with a supervisor, wait until every worker has started
                    self.pids = process_tree(self.proc.pid)
                    if workers == 1 or len(self.pids) > workers:
                        time.sleep(0.5 if workers == 1 else 2.0)
                        self.pids = process_tree(self.proc.pid)
                        return
            time.sleep(0.2)
        raise RuntimeError(f"server not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)  # our own session: the server and its workers
                self.proc.wait(timeout=5)
        self._log.close()


@contextlib.contextmanager
def running(app: str, workers: int, env: dict[str, str], log_path: Path) -> Iterator[Server]:
    server = Server(app, workers, env, log_path)
    try:
        server.wait_ready(workers)
        yield server
    finally:
        server.stop()


# -- gateway configuration per profile ------------------------------------------------------
def base_env(config_file: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RG_")}
    env["PYTHONPATH"] = str(REPO)
    if config_file is not None:
        env.update(RG_CONFIG_FILE=str(config_file), RG_SERVE_WORKER="false")
    return env


def write_config(data_dir: Path, **values: Any) -> Path:
    """The tests' settings (clients, signing key, test catalog) as a YAML file for ``RG_CONFIG_FILE``."""
    import yaml

    from tests.conftest import TEST_MASTER_KEY, make_settings

    settings = make_settings(data_dir, serve_worker=False, **values)
    document = {
        "profile": settings.profile, "data_dir": str(settings.data_dir), "database_url": settings.database_url,
        "redis_url": settings.redis_url, "queue_name": settings.queue_name,
        "mappings_dir": str(settings.mappings_dir), "fixtures_dir": str(settings.fixtures_dir),
        "token_signing_key": settings.token_signing_key.get_secret_value(), "serve_worker": False,
        "clients": [client.model_dump() for client in settings.clients],
        "at_rest": {"master_keys": [TEST_MASTER_KEY]},
    }
    path = data_dir / "gateway.yaml"
    path.write_text(yaml.safe_dump(document))
    from gateway.migrations import upgrade
    from gateway.store.db import Database

    upgrade(settings.effective_database_url)  # once, before several workers start
    db = Database(settings.effective_database_url)
    db.ping()  # switches SQLite to WAL before the workers open it
    db.dispose()
    return path


@contextlib.contextmanager
def embedded_config(tmp: Path) -> Iterator[Path]:
    data_dir = Path(tempfile.mkdtemp(prefix="embedded-", dir=tmp))
    yield write_config(data_dir, profile="embedded")


@contextlib.contextmanager
def scaleout_services() -> Iterator[dict[str, str]]:
    """Settings of the scale-out profile on a PostgreSQL schema and Redis queue of their own (the
    test conventions' services), removed afterwards."""
    import redis
    import sqlalchemy as sa

    from tests.conftest import PG_URL, REDIS_URL

    name = f"rg_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    try:
        yield {"profile": "scaleout", "database_url": f"{PG_URL}?options=-csearch_path%3D{name}",
               "redis_url": REDIS_URL, "queue_name": name}
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"{name}*"):
            client.delete(key)
        client.close()


@contextlib.contextmanager
def scaleout_config(tmp: Path) -> Iterator[Path]:
    with scaleout_services() as services:
        yield write_config(Path(tempfile.mkdtemp(prefix="scaleout-", dir=tmp)), **services)


def services_available() -> str | None:
    """None when PostgreSQL and Redis answer, else the reason to skip the scale-out profile."""
    import redis
    import sqlalchemy as sa

    from tests.conftest import PG_URL, REDIS_URL

    try:
        engine = sa.create_engine(PG_URL)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:
        return f"PostgreSQL/Redis not reachable ({type(exc).__name__})"
    return None


def fetch_token(port: int) -> str:
    from tests.conftest import SECRETS

    form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": "portal",
                                   "client_secret": SECRETS["portal"]}).encode()
    status, body = http_request(port, "POST", "/oauth/token", form,
                                {"Content-Type": "application/x-www-form-urlencoded"})
    if status != 200:
        raise RuntimeError(f"token request failed: {status} {body[:200]!r}")
    token: str = json.loads(body)["access_token"]
    return token


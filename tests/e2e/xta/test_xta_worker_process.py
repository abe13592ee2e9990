"""`serve` runs the worker in a process of its own: a pathological XTA message keeps the worker
busy, never the API — `/healthz` answers within a second all the while — and a worker that
dies is started again."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import yaml
from lxml import etree

from adapters.xta import samples, testing
from adapters.xta.client import XtaClient
from adapters.xta.sandbox.app import create_app
from tests.conftest import TEST_MASTER_KEY
from tests.support.serve_process import serving
from tests.support.servers import free_port, serve_app

ATTRIBUTES = 100_000


def pathological_gewerbe() -> bytes:
    """The Gewerbe sample with 100,000 unknown attributes on its root element (about 1.5 MB)."""
    document = etree.tostring(etree.fromstring(samples.GEWERBE.fixtures()[0].read_bytes()))
    end_of_root_tag = document.index(b">")
    attributes = b"".join(b' x%d="%d"' % (i, i) for i in range(ATTRIBUTES))
    return document[:end_of_root_tag] + attributes + document[end_of_root_tag:]


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(c) for c in (task / "children").read_text().split())
    return found


@contextmanager
def served(tmp_path: Path, mappings_dir: Path, adapters: dict[str, object]) -> Iterator[tuple[str, int]]:
    """`rathaus-gateway serve` (API + worker process) as a real process; yields its URL and pid."""
    port = free_port()
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump({
        "data_dir": str(tmp_path / "data"), "mappings_dir": str(mappings_dir),
        "token_signing_key": "worker-process-test-key-0123456789abcdef", "adapters": adapters,
        "at_rest": {"master_keys": [TEST_MASTER_KEY]},
        "poll_interval_seconds": 0.2, "worker_idle_seconds": 0.1,
    }), encoding="utf-8")
    with serving(config, port, tmp_path / "serve.log") as (process, base):
        yield base, process.pid


def inbox_state(data_dir: Path, message_id: str) -> str | None:
    with sqlite3.connect(f"file:{data_dir / 'gateway.db'}?mode=ro", uri=True, timeout=5) as db:
        row = db.execute("SELECT state FROM inbox WHERE source_id = ?", (message_id,)).fetchone()
    return str(row[0]) if row else None


def test_healthz_answers_within_a_second_while_the_worker_handles_a_pathological_message(
        tmp_path: Path, mappings_dir: Path) -> None:
    sandbox = create_app()
    with serve_app(sandbox, health_path="/health") as xta_url, httpx.Client(timeout=30) as http:
        message_id = samples.post(XtaClient(xta_url, samples.STATE_PORTAL, http), samples.GEWERBE,
                                  pathological_gewerbe())
        with served(tmp_path, mappings_dir, {"xta": testing.options(xta_url)}) as (base, pid):
            assert len(children(pid)) == 1, "serve runs exactly one worker process"
            deadline = time.monotonic() + 60
            while not sandbox.state.xta.messages[message_id].fetched:
                assert time.monotonic() < deadline, "the worker never fetched the message"
                time.sleep(0.05)
            # from the fetch on the worker verifies the message: the API must not notice. Watched
            # for two seconds at least, and on while the message is still open (six at most)
            fetched = time.monotonic()
            latencies: list[float] = []
            while time.monotonic() < fetched + 2 or (
                    inbox_state(tmp_path / "data", message_id) in (None, "received", "retry")
                    and time.monotonic() < fetched + 6):
                started = time.perf_counter()
                response = httpx.get(base + "/healthz", timeout=5)
                latencies.append(time.perf_counter() - started)
                assert response.status_code == 200
                time.sleep(0.1)
    assert len(latencies) >= 10
    assert max(latencies) < 1.0, f"slowest /healthz took {max(latencies):.2f} s"


def test_a_worker_process_that_dies_is_started_again(tmp_path: Path, mappings_dir: Path) -> None:
    with served(tmp_path, mappings_dir, {}) as (_, pid):
        [first] = children(pid)
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while children(pid) in (set(), {first}):
            assert time.monotonic() < deadline, "no new worker process"
            time.sleep(0.1)
        [second] = children(pid)
        assert second != first

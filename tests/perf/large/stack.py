"""What the large-content benchmark runs: both sandboxes (in this process, on loopback ports)
and the gateway's worker as a process of its own (``python -m gateway worker``, embedded
profile, durable), whose memory is read from ``/proc``.

The worker polls the FIT-Connect sandbox (Submission API v2) and the XTA sandbox, takes every
submission through the whole intake -- fetch, verify, case, acknowledgement (accept-submission,
close) -- as in production; nothing is shortened for the benchmark but the poll interval.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from adapters.fitconnect import testing as fitconnect_testing
from adapters.fitconnect.sandbox.app import create_app as fitconnect_sandbox
from adapters.fitconnect.sandbox.config import demo_config
from adapters.fitconnect.sandbox.state import Sandbox
from adapters.xta import testing as xta_testing
from adapters.xta.sandbox.app import create_app as xta_sandbox
from adapters.xta.sandbox.store import SandboxState
from tests.conftest import TEST_MASTER_KEY
from tests.support.servers import serve_app

REPO = Path(__file__).resolve().parents[3]
GIB = 1024 * 1024 * 1024
POLL_SECONDS = 0.05
CATALOG = """\
tenant: {ars: "150905350535", name: Einheitsgemeinde Stadt Tangerhütte (Benchmark), reference_prefix: TGH}
services:
  - {leika: "99050012104000", name: Gewerbe anmelden, mappings: [fim.gewerbe-anmelden], min_trust_level: none,
     channels: [fitconnect], queue: gewerbeamt}
  - {leika: "99107006001000", name: Wohngeld, mappings: [xoev.wohngeld-mietzuschuss], min_trust_level: none,
     channels: [xta], queue: wohngeld}
"""


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in bytes."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0]) * 1024
    return found


def reset_peak(pid: int) -> bool:
    """Start the process's VmHWM again from its current RSS (Linux: clear_refs 5)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log: Path
    data_dir: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"the gateway worker ended ({self.process.returncode}):\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Stack:
    fitconnect: Sandbox
    fitconnect_url: str
    xta: SandboxState
    xta_url: str
    worker: Worker
    tmp: Path

    def wait(self, done: Any, what: str, timeout: float) -> float:
        """Seconds until ``done()`` is true (checked every 10 ms)."""
        started = time.perf_counter()
        while not done():
            self.worker.alive()
            if time.perf_counter() - started > timeout:
                raise TimeoutError(f"{what}: not done after {timeout:.0f} s\n{self.worker.tail()}")
            time.sleep(0.01)
        return time.perf_counter() - started


def _mappings(root: Path) -> Path:
    target = root / "mappings"
    (target / "catalog").mkdir(parents=True)
    for sub in ("fim", "xoev", "codelists"):
        shutil.copytree(REPO / "mappings" / sub, target / sub)
    (target / "catalog" / "benchmark.yaml").write_text(CATALOG, encoding="utf-8")
    (root / "schemas").symlink_to(REPO / "schemas")
    return target


def _adapters(fitconnect_url: str, xta_url: str, max_bytes: int) -> dict[str, Any]:
    destination = fitconnect_testing.gateway_options(fitconnect_url)["destinations"][0]
    fitconnect = fitconnect_testing.gateway_options(
        fitconnect_url, poll_interval=POLL_SECONDS, issuer=fitconnect_url,
        destinations=[{**destination, "services": [], "api_version": "v2",
                       "limits": {"max_attachment_bytes": max_bytes, "max_total_bytes": 2 * max_bytes}}],
        limits={"max_attachment_bytes": 2 * max_bytes})
    xta = xta_testing.options(xta_url, poll_interval_seconds=POLL_SECONDS, max_message_bytes=2 * max_bytes)
    return {"fitconnect": fitconnect, "xta": xta}


@contextmanager
def worker_process(tmp: Path, adapters: dict[str, Any]) -> Iterator[Worker]:
    data_dir = tmp / "gateway"
    config = tmp / "gateway.yaml"
    config.write_text(yaml.safe_dump({
        "demo": True,  # the sandboxes' published keys
        "data_dir": str(data_dir), "mappings_dir": str(_mappings(tmp / "config")),
        "token_signing_key": "large-content-benchmark-key-0123456789abcdef", "adapters": adapters,
        "at_rest": {"master_keys": [TEST_MASTER_KEY]},
        "poll_interval_seconds": POLL_SECONDS, "worker_idle_seconds": POLL_SECONDS,
    }), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RG_")}
    env.update(RG_CONFIG_FILE=str(config), PYTHONPATH=str(REPO))
    subprocess.run([sys.executable, "-m", "gateway", "migrate"], env=env, check=True, capture_output=True)
    log = tmp / "worker.log"
    with log.open("wb") as output:
        # a session of its own: the cleanup ends exactly this process
        process = subprocess.Popen([sys.executable, "-m", "gateway", "worker"], env=env, stdout=output,
                                   stderr=output, start_new_session=True)
    try:
        yield Worker(process, log, data_dir)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@contextmanager
def running(tmp: Path, max_bytes: int) -> Iterator[Stack]:
    """Both sandboxes and a gateway worker that takes content up to ``max_bytes`` per attachment."""
    with ExitStack() as stack:
        fitconnect_app = fitconnect_sandbox(demo_config())
        fitconnect_url = stack.enter_context(serve_app(fitconnect_app, health_path="/v1/info"))
        xta_app = xta_sandbox()
        xta_url = stack.enter_context(serve_app(xta_app, health_path="/health"))
        worker = stack.enter_context(worker_process(tmp, _adapters(fitconnect_url, xta_url, max_bytes)))
        yield Stack(fitconnect_app.state.sandbox, fitconnect_url, xta_app.state.xta, xta_url, worker, tmp)


def remove_large_files(folder: Path, larger_than: int = 8 * 1024 * 1024) -> None:
    """Free the disk between runs: the content's copies (blobs of the finished run) go."""
    for path in folder.rglob("*"):
        try:
            if path.is_file() and path.stat().st_size > larger_than:
                path.unlink()
        except FileNotFoundError:
            continue


"""The gateway as the channel benchmarks run it: the product's own command line in processes of
its own, and their CPU time read from /proc.

``rathaus-gateway serve`` is the API process plus the worker process it starts beside it;
``rathaus-gateway worker`` is a worker alone. Both read their settings from a YAML file
(``RG_CONFIG_FILE``), as an installation does; nothing else of the environment's ``RG_``
variables reaches them. Their output goes to ``var/bench/logs/``.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import yaml

from tests.conftest import TEST_MASTER_KEY
from tests.perf.loadgen import CLK_TCK, cpu_seconds, process_tree, stat_fields
from tests.perf.servers import HOST, REPO, free_port

LOG_DIR = REPO / "var" / "bench" / "logs"


def exit_on_sigterm() -> None:
    """A benchmark ended by ``run_all`` (SIGTERM when it overruns its time) unwinds like a Ctrl-C:
    its ``finally`` blocks stop the gateway processes it started (they run in sessions of their
    own, so the signal to the benchmark's process group does not reach them)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


class GatewayProcesses:
    """``rathaus-gateway serve`` (``command="serve"``: API + worker; API alone with
    ``with_worker=False``) or ``worker``."""

    def __init__(self, name: str, settings: dict[str, Any], data_dir: Path, command: str = "serve",
                 log_dir: Path = LOG_DIR, with_worker: bool = True) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.config_file = data_dir / "gateway.yaml"
        # encrypted at rest like every installation (the test suite's master key)
        config = {"data_dir": str(data_dir), "at_rest": {"master_keys": [TEST_MASTER_KEY]}, **settings}
        self.config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
        self.command, self.with_worker = command, with_worker
        self.port = free_port() if command == "serve" else None
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{name}-gateway.log"
        self._log: IO[bytes] = self.log_path.open("wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith("RG_")}
        # unbuffered: the worker's start line reaches the log at once
        env.update(PYTHONPATH=str(REPO), RG_CONFIG_FILE=str(self.config_file), PYTHONUNBUFFERED="1")
        argv = [sys.executable, "-m", "gateway", command]
        if command == "worker":  # it stops by itself within a second should this process die
            argv += ["--parent-pid", str(os.getpid())]
        if self.port is not None:
            argv += ["--host", HOST, "--port", str(self.port)]
            if not with_worker:
                argv.append("--no-worker")
        self.proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.pids: dict[str, int] = {}

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Up when the API answers ``/healthz`` and the worker process runs if it has one (``serve``), or when
        the worker has logged its start (``worker``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.proc.returncode}:\n{self.log_tail()}")
            if self.command == "serve" and not self.with_worker:
                if self._healthy():
                    self.pids = {"api": self.proc.pid}
                    return
            elif self.command == "serve":
                children = [pid for pid in process_tree(self.proc.pid) if pid != self.proc.pid]
                if children and self._healthy() and b"started (" in self.log_path.read_bytes():
                    self.pids = {"api": self.proc.pid, "worker": children[0]}
                    return
            elif b"started (" in self.log_path.read_bytes():
                self.pids = {"worker": self.proc.pid}
                return
            time.sleep(0.2)
        raise RuntimeError(f"gateway not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def _healthy(self) -> bool:
        assert self.port is not None
        with contextlib.suppress(OSError):
            conn = http.client.HTTPConnection(HOST, self.port, timeout=2)
            try:
                conn.request("GET", "/healthz")
                return conn.getresponse().status == 200
            finally:
                conn.close()
        return False

    def cpu(self) -> dict[str, float]:
        """CPU seconds (user + system) each process has used so far."""
        return {name: cpu_seconds([pid]) for name, pid in self.pids.items()}

    def system_cpu(self) -> float:
        """CPU seconds all processes have spent in the kernel so far (writes, fsyncs, sockets)."""
        total = 0
        for pid in self.pids.values():
            with contextlib.suppress(OSError, IndexError):
                total += int(stat_fields(pid)[12])
        return total / CLK_TCK

    def pause(self) -> None:
        """Stop the processes (SIGSTOP): nothing they do can start before :meth:`resume`."""
        for pid in self.pids.values():
            os.kill(pid, signal.SIGSTOP)

    def resume(self) -> None:
        for pid in self.pids.values():
            os.kill(pid, signal.SIGCONT)

    def log_tail(self, lines: int = 40) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.resume()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT if self.command == "serve" else signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=20)
        # its own session and process group: whatever of it is left (API or worker)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=5)
        self._log.close()

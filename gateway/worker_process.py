"""The worker beside the API, in a process of its own.

``serve`` and ``up`` start ``rathaus-gateway worker`` as a child: intake work (a
pathological message, a slow upstream, a large mapping) never competes with the API for its
interpreter, so ``/healthz`` and the portal keep answering. The child gets the parent's
environment (hence the same settings) plus its process id; it stops by itself once that
parent is gone, and the parent starts it again should it die.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading

log = logging.getLogger(__name__)


class WorkerProcess:
    def __init__(self, env: dict[str, str] | None = None, restart_delay_seconds: float = 2.0,
                 stop_timeout_seconds: float = 15.0) -> None:
        self._env = {**os.environ, **(env or {})}
        self._restart_delay = restart_delay_seconds
        self._stop_timeout = stop_timeout_seconds
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._watcher: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        with self._lock:
            return self._process.pid if self._process is not None else None

    def start(self) -> None:
        self._spawn()
        self._watcher = threading.Thread(target=self._watch, name="worker-process", daemon=True)
        self._watcher.start()

    def _spawn(self) -> None:
        command = [sys.executable, "-m", "gateway", "worker", "--parent-pid", str(os.getpid())]
        with self._lock:
            if self._stopping.is_set():  # stop() came first: start nothing it would not stop
                return
            self._process = subprocess.Popen(command, env=self._env)
            log.info("worker process %d started", self._process.pid)

    def _watch(self) -> None:
        while True:
            with self._lock:
                process = self._process
            assert process is not None
            code = process.wait()
            # a pause before the restart: a Ctrl-C reaches the worker and this process at once, and
            # this process's stop() must win; a worker that keeps failing is not restarted in a loop
            if self._stopping.wait(self._restart_delay):
                return
            log.warning("worker process %d exited with %s; starting a new one", process.pid, code)
            self._spawn()
            if self._stopping.is_set():
                return

    def stop(self) -> None:
        """SIGTERM (the worker finishes its round), then SIGKILL after the timeout."""
        with self._lock:
            self._stopping.set()
            process = self._process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(self._stop_timeout)
        except subprocess.TimeoutExpired:
            log.warning("worker process %d did not stop in time; killed", process.pid)
            process.kill()
            process.wait()
        if self._watcher is not None:
            self._watcher.join(5)

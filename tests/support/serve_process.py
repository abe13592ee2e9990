"""``rathaus-gateway serve`` as its own process group for fault tests: started with a config
file, waited for until ``/readyz`` answers, stopped with SIGTERM (SIGKILL if it hangs)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


@contextmanager
def serving(config: Path, port: int, log: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """The serve process (with its worker) and its base URL; its output is appended to ``log``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RG_", "PROMETHEUS_"))}
    env["RG_CONFIG_FILE"] = str(config)
    with log.open("ab") as out:
        # a session of its own: stopping it ends exactly this group (serve and its worker)
        process = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--port", str(port)],
                                   env=env, stdout=out, stderr=out, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.1)
        yield process, base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)

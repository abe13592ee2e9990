"""The PostgreSQL side of the scale-out benchmarks: lock waits of the gateway's backends
(``pg_stat_activity``, sampled every 10 ms) and which processes are PostgreSQL's and Redis' own."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from tests.perf.loadgen import CLK_TCK

SAMPLE_S = 0.01


def _gateway_ports(pids: list[int]) -> set[int]:
    """The local ports of these processes' TCP connections to PostgreSQL (port 5432)."""
    inodes: set[str] = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    link = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if link.startswith("socket:["):
                        inodes.add(link[8:-1])
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[9] in inodes and fields[2].endswith(":1538"):  # remote port 5432
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


class Sampler:
    """Samples pg_stat_activity for the gateway's backends: lock waits and which backends are ours.
    ``gateway_pids`` gives the gateway's processes (asked again every second: processes come and go)."""

    def __init__(self, gateway_pids: Callable[[], list[int]], pg_url: str) -> None:
        self._gateway_pids, self._engine = gateway_pids, sa.create_engine(pg_url, pool_size=1)
        self._stop = threading.Event()
        self.backends: set[int] = set()
        self.waits = 0
        self.wait_samples = 0
        self.waited_on: dict[str, int] = {}  # wait event and statement: how often
        self._waiting: set[int] = set()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.counting = False

    def own_cpu_s(self) -> float:
        """CPU seconds this sampling thread has used (it runs in the driver's process)."""
        # /proc/<tid>/stat would give the whole process's time: the thread's own is under task/
        with contextlib.suppress(OSError, IndexError):
            text = Path(f"/proc/self/task/{self._thread.native_id}/stat").read_text()
            fields = text[text.rindex(")") + 2:].split()
            return (int(fields[11]) + int(fields[12])) / CLK_TCK
        return 0.0

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._engine.dispose()

    def _run(self) -> None:
        ports, refreshed = set[int](), 0.0
        query = sa.text("SELECT pid, client_port, wait_event_type, wait_event, left(query, 48) AS q "
                        "FROM pg_stat_activity WHERE client_port = ANY(:ports)")
        with self._engine.connect() as conn:
            while not self._stop.wait(SAMPLE_S):
                if time.monotonic() - refreshed > 1.0:
                    ports, refreshed = _gateway_ports(self._gateway_pids()), time.monotonic()
                rows = conn.execute(query, {"ports": list(ports)}).all()
                conn.rollback()
                waiting = {r.pid for r in rows if r.wait_event_type == "Lock"}
                self.backends.update(r.pid for r in rows)
                if self.counting:
                    self.waits += len(waiting - self._waiting)
                    self.wait_samples += len(waiting)
                    for r in rows:
                        if r.pid in waiting - self._waiting:
                            what = f"{r.wait_event}: {r.q}"
                            self.waited_on[what] = self.waited_on.get(what, 0) + 1
                self._waiting = waiting


def postgres_background() -> list[int]:
    """Redis and PostgreSQL's own processes (postmaster, writers, WAL writer, ...), not other clients' backends."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            name = (entry / "comm").read_text().strip()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            backend = name == "postgres" and "postgres:" in cmd and not any(
                word in cmd for word in ("writer", "checkpointer", "launcher", "logger", "stats", "archiver"))
            if name == "redis-server" or (name == "postgres" and not backend):
                pids.append(int(entry.name))
    return pids

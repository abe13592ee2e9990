"""A small HTTP/1.1 load generator that stays out of the way of the server it measures.

asyncio (uvloop when available) with raw keep-alive connections: the request bytes are
assembled from pre-built pieces, the response parser reads the status line and
``Content-Length`` only. Every request carries a unique ``Idempotency-Key`` and a unique
body (so the gateway neither answers replays nor finds the raw original already stored).

Two modes:
- closed loop (``rate=None``): each connection sends its next request as soon as the
  previous answer arrived; measures the maximum throughput at that concurrency.
- open loop (``rate=r``): requests are scheduled at ``r`` per second and taken by the
  first idle connection; latency counts from the scheduled time, so queueing in the
  client is included (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import os
import platform
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

TENANT = "150905350535"
LEIKA = "99108008001000"
FORM = "test-hund"
_SEQ = "@@SEQ@@"
CLK_TCK = os.sysconf("SC_CLK_TCK")
CONNECT_STAGGER_S = 0.01


class RequestFactory:
    """Builds ``POST /v1/applications`` requests, each with its own key and body."""

    def __init__(self, host: str, port: int, token: str | None = None, path: str = "/v1/applications") -> None:
        self.host, self.port = host, port
        run_id = uuid.uuid4().hex[:12]
        envelope = {
            "tenant": TENANT, "service": LEIKA, "form": FORM,
            "submitted_at": dt.datetime.now(dt.UTC).isoformat(),
            "data": {"halter": {"vorname": "Erika", "nachname": "Mustermann", "geburtsdatum": "1980-04-01"},
                     "hund": {"name": f"Bello {_SEQ}", "wurfdatum": "2021-05-01", "gefaehrlich": False}},
        }
        body_before, body_after = orjson.dumps(envelope).split(_SEQ.encode())
        body_len = len(body_before) + 10 + len(body_after)  # the sequence number has 10 digits
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{auth}"
                f"Content-Type: application/json\r\nContent-Length: {body_len}\r\n"
                f"Idempotency-Key: bench-{run_id}-")
        self._head = head.encode()
        self._middle = b"\r\n\r\n" + body_before
        self._tail = body_after

    def build(self, seq: int) -> bytes:
        number = b"%010d" % seq
        return b"".join((self._head, number, self._middle, number, self._tail))


@dataclass
class LoadResult:
    mode: str
    concurrency: int
    duration_s: float
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    statuses: dict[str, int]
    client_cpu_s: float
    client_cpu_pct: float  # of one core
    target_rate: float | None = None
    warmup_errors: dict[str, int] = field(default_factory=dict)  # non-201 answers before the window, by status
    reconnects: int = 0
    probe_start: dict[str, float] = field(default_factory=dict)
    probe_end: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


class _Recorder:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.statuses: dict[str, int] = {}
        self.errors = 0
        self.warmup_errors: dict[str, int] = {}
        self.reconnects = 0
        self.measure_from = float("inf")
        self.measure_until = float("inf")
        self.last_done = 0.0

    def record(self, start: float, done: float, status: str) -> None:
        if start < self.measure_from and status != "201":
            self.warmup_errors[status] = self.warmup_errors.get(status, 0) + 1
        if not self.measure_from <= start < self.measure_until:
            return
        self.latencies.append(done - start)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status != "201":
            self.errors += 1
        self.last_done = max(self.last_done, done)


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> tuple[str, bool]:
    """Send one request, read one response; returns the status code and whether to keep the connection."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = head[9:12].decode()
    length = 0
    keep = True
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        lname = name.strip().lower()
        if lname == b"content-length":
            length = int(value)
        elif lname == b"connection" and value.strip().lower() == b"close":
            keep = False
    if length:
        await reader.readexactly(length)
    return status, keep


class _Client:
    def __init__(self, factory: RequestFactory, recorder: _Recorder) -> None:
        self.factory = factory
        self.recorder = recorder
        self.seq = itertools.count(1)

    async def connection(self, next_start: Callable[[], Coroutine[Any, Any, float | None]], delay: float) -> None:
        # Staggered connects during the warm-up: with several uvicorn workers on one listening
        # socket, a burst of connects tends to be accepted by a single worker.
        await asyncio.sleep(delay)
        reader, writer = await asyncio.open_connection(self.factory.host, self.factory.port)
        try:
            while (start := await next_start()) is not None:
                try:
                    status, keep = await _exchange(reader, writer, self.factory.build(next(self.seq)))
                except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    status, keep = "conn-error", False
                self.recorder.record(start, time.perf_counter(), status)
                if not keep:
                    writer.close()
                    self.recorder.reconnects += 1
                    reader, writer = await asyncio.open_connection(self.factory.host, self.factory.port)
        finally:
            writer.close()


Probe = Callable[[], dict[str, float]]


def _no_probe() -> dict[str, float]:
    return {}


async def _run(factory: RequestFactory, concurrency: int, warmup_s: float, duration_s: float,
               rate: float | None, probe: Probe) -> tuple[_Recorder, list[dict[str, float]]]:
    recorder = _Recorder()
    client = _Client(factory, recorder)
    begin = time.perf_counter()
    recorder.measure_from = begin + warmup_s
    recorder.measure_until = recorder.measure_from + duration_s

    if rate is None:
        async def next_start() -> float | None:
            now = time.perf_counter()
            return now if now < recorder.measure_until else None
        feeder = None
    else:
        schedule: asyncio.Queue[float | None] = asyncio.Queue()

        async def next_start() -> float | None:
            return await schedule.get()

        async def feed() -> None:
            for i in itertools.count():
                due = begin + i / rate
                if due >= recorder.measure_until:
                    break
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                schedule.put_nowait(due)
            for _ in range(concurrency):
                schedule.put_nowait(None)
        feeder = asyncio.ensure_future(feed())

    snapshots: list[dict[str, float]] = []

    def snapshot() -> None:
        snapshots.append({**probe(), "client_cpu": time.process_time(), "wall": time.perf_counter()})

    async def at_window_start() -> None:
        await asyncio.sleep(max(0.0, recorder.measure_from - time.perf_counter()))
        snapshot()

    marker = asyncio.ensure_future(at_window_start())
    stagger = min(CONNECT_STAGGER_S, warmup_s / 2 / concurrency)
    await asyncio.gather(*(client.connection(next_start, i * stagger) for i in range(concurrency)))
    await marker
    snapshot()
    if feeder is not None:
        await feeder
    return recorder, snapshots


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run_load(factory: RequestFactory, *, concurrency: int = 32, warmup_s: float = 2.0, duration_s: float = 10.0,
             rate: float | None = None, probe: Probe = _no_probe) -> LoadResult:
    """Warm up, then measure for ``duration_s``; only requests started in that window count.

    ``probe`` is called when the window opens and once the last request has finished (e.g. to
    read the servers' CPU time); both snapshots are returned with the result.
    """
    with asyncio.Runner(loop_factory=_new_loop) as runner:
        recorder, (start, end) = runner.run(_run(factory, concurrency, warmup_s, duration_s, rate, probe))
    lat = sorted(recorder.latencies)
    # requests started in the window; those still running at its end finish shortly after
    elapsed = max(duration_s, recorder.last_done - recorder.measure_from)
    client_cpu = end["client_cpu"] - start["client_cpu"]
    probe_wall = end["wall"] - start["wall"]
    return LoadResult(
        mode="closed" if rate is None else "open", concurrency=concurrency, duration_s=round(elapsed, 3),
        requests=len(lat), errors=recorder.errors, rps=len(lat) / elapsed,
        p50_ms=percentile(lat, 0.50) * 1000, p90_ms=percentile(lat, 0.90) * 1000,
        p99_ms=percentile(lat, 0.99) * 1000, max_ms=(lat[-1] if lat else float("nan")) * 1000,
        mean_ms=(sum(lat) / len(lat) if lat else float("nan")) * 1000, statuses=recorder.statuses,
        client_cpu_s=round(client_cpu, 3), client_cpu_pct=round(100 * client_cpu / probe_wall, 1),
        target_rate=rate, warmup_errors=recorder.warmup_errors, reconnects=recorder.reconnects,
        probe_start=start, probe_end=end,
    )


# -- CPU accounting from /proc (servers, services, whole machine) --------------------------------------
def stat_fields(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2:].split()  # fields from 3 (state) on


def process_tree(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                parents[int(entry.name)] = int(stat_fields(int(entry.name))[1])
    tree, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, ppid in parents.items() if ppid in frontier]
        tree += frontier
    return tree


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError):
            fields = stat_fields(pid)
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


def service_pids() -> list[int]:
    """PostgreSQL and Redis server processes (all backends: other users of the services count too)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() in ("postgres", "redis-server"):
                    pids.append(int(entry.name))
    return pids


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / CLK_TCK, sum(values) / CLK_TCK


def machine_info() -> dict[str, Any]:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    return {"nproc": os.cpu_count(), "cpu_model": model, "python": platform.python_version(),
            "implementation": platform.python_implementation(), "kernel": platform.release()}

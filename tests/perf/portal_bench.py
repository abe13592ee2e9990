"""Portal benchmark: applications per second and p50/p99 at concurrency 32, both profiles,
next to the floor (the bare framework answering the same request) measured in the same run.

    .venv/bin/python -m tests.perf.portal_bench [--duration 10] [--workers 1,2]

Every server is a separate ``uvicorn`` process (same options for floor and gateway), the
gateway on a fresh data dir (embedded) or a fresh PostgreSQL schema and Redis queue name
(scale-out). Traffic goes to 127.0.0.1 only. Results: a printed table and var/bench/portal.json.
"""

from __future__ import annotations

import argparse
import atexit
import collections
import contextlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

from tests.perf.loadgen import (
    LoadResult,
    RequestFactory,
    cpu_seconds,
    machine_cpu,
    machine_info,
    process_tree,
    run_load,
    service_pids,
)

REPO = Path(__file__).resolve().parents[2]
OUT_DIR = REPO / "var" / "bench"
HOST = "127.0.0.1"
FOREIGN_CPU_WARN_PCT = 25.0  # of one core
UVICORN_OPTIONS = ["--host", HOST, "--no-access-log", "--log-level", "warning", "--no-server-header",
                   "--no-proxy-headers", "--loop", "uvloop", "--http", "httptools", "--timeout-graceful-shutdown", "3"]
FLOOR_APP = "tests.perf.floor_app:create_app"
GATEWAY_APP = "gateway.asgi:create"  # the product's factory: one gateway per worker, settings from RG_*


# -- server processes ---------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _request(port: int, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None,
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
                status, _ = _request(self.port, "GET", "/healthz", timeout=2.0)
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
        env.update(RG_CONFIG_FILE=str(config_file), RG_EMBEDDED_WORKER="false")
    return env


def write_config(data_dir: Path, **values: Any) -> Path:
    """The tests' settings (clients, signing key, test catalog) as a YAML file for ``RG_CONFIG_FILE``."""
    import yaml

    from tests.conftest import make_settings

    settings = make_settings(data_dir, embedded_worker=False, **values)
    document = {
        "profile": settings.profile, "data_dir": str(settings.data_dir), "database_url": settings.database_url,
        "redis_url": settings.redis_url, "queue_name": settings.queue_name,
        "mappings_dir": str(settings.mappings_dir), "fixtures_dir": str(settings.fixtures_dir),
        "token_signing_key": settings.token_signing_key.get_secret_value(), "embedded_worker": False,
        "clients": [client.model_dump() for client in settings.clients],
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
def scaleout_config(tmp: Path) -> Iterator[Path]:
    import redis
    import sqlalchemy as sa

    from tests.conftest import PG_URL, REDIS_URL

    name = f"rg_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    data_dir = Path(tempfile.mkdtemp(prefix="scaleout-", dir=tmp))
    try:
        yield write_config(data_dir, profile="scaleout", database_url=f"{PG_URL}?options=-csearch_path%3D{name}",
                           redis_url=REDIS_URL, queue_name=name)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"{name}*"):
            client.delete(key)
        client.close()


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
    status, body = _request(port, "POST", "/oauth/token", form,
                            {"Content-Type": "application/x-www-form-urlencoded"})
    if status != 200:
        raise RuntimeError(f"token request failed: {status} {body[:200]!r}")
    token: str = json.loads(body)["access_token"]
    return token


# -- one measurement --------------------------------------------------------------------------
@dataclass
class Run:
    target: str  # floor | embedded | scaleout
    workers: int
    load: LoadResult
    server_pids: int
    server_cpu_ms_per_req: float = 0.0
    server_cpu_pct: float = 0.0  # of one core
    services_cpu_pct: float = 0.0
    machine_busy_pct: float = 0.0  # of all cores
    foreign_cpu_pct: float = 0.0  # of one core: what neither our servers, the client nor the services used
    process_cpu_pct: list[int] = field(default_factory=list)  # per server process, of one core
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {**{k: v for k, v in self.__dict__.items() if k != "load"}, "load": self.load.as_dict()}


def measure(server: Server, target: str, workers: int, token: str | None, args: argparse.Namespace,
            rate: float | None = None) -> Run:
    def probe() -> dict[str, float]:
        busy, total = machine_cpu()
        return {"server_cpu": cpu_seconds(server.pids), "services_cpu": cpu_seconds(service_pids()),
                "machine_busy": busy, "machine_total": total, **{f"pid:{p}": cpu_seconds([p]) for p in server.pids}}

    factory = RequestFactory(HOST, server.port, token)
    load = run_load(factory, concurrency=args.concurrency, warmup_s=args.warmup, duration_s=args.duration,
                    rate=rate, probe=probe)
    start, end = load.probe_start, load.probe_end
    wall = end["wall"] - start["wall"]
    delta = {k: end[k] - start[k] for k in start}
    run = Run(target=target, workers=workers, load=load, server_pids=len(server.pids))
    run.server_cpu_ms_per_req = 1000 * delta["server_cpu"] / max(1, load.requests)
    run.server_cpu_pct = 100 * delta["server_cpu"] / wall
    run.services_cpu_pct = 100 * delta["services_cpu"] / wall if target == "scaleout" else 0.0
    run.machine_busy_pct = 100 * delta["machine_busy"] / delta["machine_total"]
    ours = delta["server_cpu"] + delta["client_cpu"] + (delta["services_cpu"] if target == "scaleout" else 0.0)
    run.foreign_cpu_pct = max(0.0, 100 * (delta["machine_busy"] - ours) / wall)
    # how the connections spread over the worker processes (the supervisor itself stays near 0)
    run.process_cpu_pct = sorted((round(100 * v / wall) for k, v in delta.items() if k.startswith("pid:")),
                                 reverse=True)
    if load.errors:
        run.notes.append(f"errors in the measured window: {load.statuses}")
    if load.warmup_errors:
        run.notes.append(f"errors during the warm-up: {load.warmup_errors}")
    return run


def log_notes(run: Run, log_path: Path) -> None:
    """Server-side failures (also during warm-up) show up as tracebacks in the server's log."""
    text = log_path.read_text(errors="replace")
    if (count := text.count("Traceback (most recent call last)")) > 0:
        last = re.findall(r"^[\w.]+(?:Error|Exception)\b.*$", text, re.MULTILINE)[-1:]
        shown = log_path.relative_to(REPO) if log_path.is_relative_to(REPO) else log_path
        run.notes.append(f"{count} traceback(s) in {shown}, last: {' '.join(last)[:200]}")


def bench_one(target: str, workers: int, args: argparse.Namespace, tmp: Path, rate: float | None = None) -> Run:
    log_path = args.out.parent / "logs" / f"portal-{target}-w{workers}-{'open' if rate else 'closed'}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    if target == "floor":
        with running(FLOOR_APP, workers, base_env(), log_path) as server:
            run = measure(server, target, workers, None, args, rate)
    else:
        configure = embedded_config if target == "embedded" else scaleout_config
        with configure(tmp) as config_file, running(GATEWAY_APP, workers, base_env(config_file), log_path) as server:
            run = measure(server, target, workers, fetch_token(server.port), args, rate)
    log_notes(run, log_path)
    return run


# -- profiling the request path (embedded) ------------------------------------------------------
def _asgi_request(raw: bytes) -> tuple[dict[str, Any], bytes]:
    head, body = raw.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    headers = [(k.strip().lower(), v.strip()) for k, _, v in (line.partition(b":") for line in lines[1:])]
    path = lines[0].split()[1]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path.decode(), "raw_path": path, "query_string": b"", "root_path": "", "headers": headers,
             "client": (HOST, 50000), "server": (HOST, 8000), "state": {}}
    return scope, body


# (label, file, function) of the steps of one portal submission, as the code stands at the time of writing
PHASES = [
    ("auth: Bearer token check (cached after the first request)", "gateway/api/deps.py", "get_principal"),
    ("endpoint total", "adapters/portal/routes.py", "submit_application"),
    ("  read body, JSON check, envelope validation", "adapters/portal/routes.py", "_read_submission"),
    ("  intake (thread-pool part) total", "gateway/intake/pipeline.py", "intake_inline"),
    ("    idempotency pre-check (read transaction)", "gateway/intake/pipeline.py", "find"),
    ("    raw original to the blob store, inbox row dict", "gateway/intake/pipeline.py", "_row"),
    ("    verify: envelope parsed again", "adapters/portal/channel.py", "verify"),
    ("    verify checkpoint: data blob, metadata", "gateway/intake/checkpoint.py", "to_checkpoint"),
    ("    route (catalog) and map (mapping file)", "gateway/intake/pipeline.py", "_route_and_map"),
    ("    transaction: pool checkout, BEGIN IMMEDIATE, COMMIT", "gateway/store/db.py", "transaction"),
    ("    inbox insert (SAVEPOINT) + audit row", "gateway/intake/records.py", "write_received"),
    ("    verify checkpoint row", "gateway/store/inbox_repo.py", "save_step"),
    ("    case write total", "gateway/intake/records.py", "write_case"),
    ("      reference number (UPDATE ... RETURNING)", "gateway/store/case_repo.py", "next_reference"),
    ("      build the case (pydantic)", "gateway/intake/case_builder.py", "build_case"),
    ("      case insert (model_dump_json)", "gateway/store/case_repo.py", "insert_case"),
    ("      event insert", "gateway/intake/publish.py", "publish"),
    ("      inbox state update", "gateway/store/inbox_repo.py", "set_state"),
    ("  audit rows (both, counted above too)", "gateway/store/outbox_repo.py", "record_audit"),
    ("  all blob writes (counted above too)", "gateway/store/blobs.py", "put"),
    ("  201 response body", "adapters/portal/routes.py", "_answer"),
]


def cprofile_request_path(requests: int, out: Path, data_dir: Path) -> str:
    """In-process, one request after the other, everything on one thread (after a first timing, the
    thread-pool hops of the portal route and of FastAPI's sync dependencies become direct calls, so
    that cProfile sees the whole request path)."""
    import asyncio
    import cProfile
    import io
    import pstats

    import fastapi.dependencies.utils as fastapi_deps

    import adapters.portal.routes as portal_routes
    from gateway.api.app import create_app
    from gateway.runtime import Gateway
    from tests.conftest import SECRETS, make_settings

    async def direct(func: Any, *args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    gateway = Gateway.create(make_settings(data_dir, embedded_worker=False))
    app = create_app(gateway)
    token = str(app.state.tokens.issue("portal", SECRETS["portal"], None)["access_token"])
    factory = RequestFactory(HOST, 8000, token)

    async def one(seq: int) -> None:
        scope, body = _asgi_request(factory.build(seq))
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(dict(message))

        await app(scope, receive, send)
        if sent[0]["status"] != 201:
            raise RuntimeError(f"status {sent[0]['status']}: {sent[1:]}")

    async def many(first: int, count: int) -> None:
        for seq in range(first, first + count):
            await one(seq)

    def timed(first: int) -> str:
        wall, cpu = time.perf_counter(), time.process_time()
        asyncio.run(many(first, requests))
        wall, cpu = (time.perf_counter() - wall) / requests * 1000, (time.process_time() - cpu) / requests * 1000
        return f"{wall:.2f} ms wall, {cpu:.2f} ms CPU per request"

    asyncio.run(many(1, 200))  # warm-up: imports, caches, first reference number
    hopping = timed(1000)
    # everything on this thread from here on: the endpoint's and FastAPI's (sync dependencies) thread-pool hops
    for module in (portal_routes, fastapi_deps):
        setattr(module, "run_in_threadpool", direct)  # noqa: B010 - a profiling harness, not product code
    requests_done = 1000 + requests
    inline = timed(requests_done)
    profiler = cProfile.Profile()
    profiler.enable()
    asyncio.run(many(requests_done + requests, requests))
    profiler.disable()
    gateway.close()
    profiler.dump_stats(out)
    # {(file, line, name): (primitive calls, calls, tottime, cumtime, callers)}; not in the typeshed stubs
    stats: dict[tuple[str, int, str], Any] = getattr(pstats.Stats(profiler), "stats")  # noqa: B009
    total = next(v[3] for k, v in stats.items() if k[2] == "one" and k[0] == __file__)

    def cum(file: str, name: str) -> float | None:
        found = [v[3] for k, v in stats.items() if k[0].endswith(file) and k[2] == name]
        return sum(found) if found else None

    lines = ["unprofiled, sequential, in-process (no HTTP, no network):",
             f"  with the thread-pool hops (3 per request): {hopping}",
             f"  all on one thread:                          {inline}",
             f"profiled: {total / requests * 1000:.2f} ms per request (cProfile roughly doubles the cost); "
             f"saved to {out.relative_to(REPO)}", "", "request path by phase (cumulative, profiled):"]
    outside = total - (cum("adapters/portal/routes.py", "submit_application") or 0.0) - (
        cum("gateway/api/deps.py", "get_principal") or 0.0)
    lines.append(f"{outside / requests * 1000:>8.3f} ms {100 * outside / total:>5.1f}%  framework: ASGI, middleware, "
                 "routing, dependencies, JSONResponse (outside the endpoint)")
    for label, file, name in PHASES:
        value = cum(file, name)
        shown = "       —   " if value is None else f"{value / requests * 1000:>8.3f} ms {100 * value / total:>5.1f}%"
        lines.append(f"{shown}  {label} [{Path(file).name}:{name}]")
    lines += ["", "top 15 functions of the request path by cumulative time (gateway/ and adapters/ code):",
              f"{'cum ms/req':>10} {'% of req':>8} {'self ms':>8} {'calls/req':>9}  function"]
    ours = [(k, v) for k, v in stats.items() if f"{REPO}/gateway/" in k[0] or f"{REPO}/adapters/" in k[0]]
    for (file, line, name), (_, calls, tottime, cumtime, _) in sorted(ours, key=lambda kv: -kv[1][3])[:15]:
        lines.append(f"{cumtime / requests * 1000:>10.3f} {100 * cumtime / total:>7.1f}% "
                     f"{tottime / requests * 1000:>8.3f} {calls / requests:>9.1f}  "
                     f"{Path(file).relative_to(REPO)}:{line}({name})")
    lines += ["", "top 15 functions by own (self) time, all code:"]
    for (file, line, name), (_, calls, tottime, cumtime, _) in sorted(stats.items(), key=lambda kv: -kv[1][2])[:15]:
        short = file.split("site-packages/")[-1].replace(f"{REPO}/", "")
        lines.append(f"{tottime / requests * 1000:>10.3f} {100 * tottime / total:>7.1f}% "
                     f"{cumtime / requests * 1000:>8.3f} {calls / requests:>9.1f}  {short}:{line}({name})")
    buffer = io.StringIO()
    pstats.Stats(profiler, stream=buffer).sort_stats("cumulative").print_stats(40)
    return "\n".join(lines) + "\n\nfull listing (cumulative, top 40):\n" + buffer.getvalue()


def _frame_name(frame: FrameType) -> str:
    code = frame.f_code
    file = code.co_filename.split("site-packages/")[-1].replace(f"{REPO}/", "")
    return f"{file}:{code.co_firstlineno}({code.co_name})"


class StackSampler(threading.Thread):
    """Wall-clock sampling of every thread that is inside gateway/ or adapters/ code: shows where
    requests *wait* under load (locks, pool, busy handler), which cProfile on one thread cannot."""

    def __init__(self, interval: float) -> None:
        super().__init__(name="stack-sampler", daemon=True)
        self.interval = interval
        self.rounds = 0
        self.samples = 0
        self.inclusive: collections.Counter[str] = collections.Counter()
        self.leaf: collections.Counter[str] = collections.Counter()
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(self.interval):
            self.rounds += 1
            for ident, top in sys._current_frames().items():
                if ident == self.ident:
                    continue
                stack: list[str] = []
                frame: FrameType | None = top
                while frame is not None:
                    stack.append(_frame_name(frame))
                    frame = frame.f_back
                if any(name.startswith(("gateway/", "adapters/")) for name in stack):
                    self.samples += 1
                    self.leaf[stack[0]] += 1
                    self.inclusive.update(set(stack))

    def dump(self, path: Path) -> None:
        self._done.set()
        path.write_text(json.dumps({"rounds": self.rounds, "samples": self.samples, "interval": self.interval,
                                    "inclusive": self.inclusive.most_common(60), "leaf": self.leaf.most_common(20)}))


def sampled_gateway() -> Any:
    """uvicorn factory for ``--profile``: the product's gateway plus a StackSampler in the process."""
    from gateway.asgi import create

    app = create()
    sampler = StackSampler(float(os.environ.get("BENCH_SAMPLE_INTERVAL", "0.005")))
    sampler.start()
    atexit.register(sampler.dump, Path(os.environ["BENCH_SAMPLE_OUT"]))
    return app


def sample_under_load(args: argparse.Namespace, tmp: Path) -> str:
    out = tmp / "samples.json"
    with embedded_config(tmp) as config_file:
        env = {**base_env(config_file), "BENCH_SAMPLE_OUT": str(out)}
        with running("tests.perf.portal_bench:sampled_gateway", 1, env, tmp / "sampled.log") as server:
            load = run_load(RequestFactory(HOST, server.port, fetch_token(server.port)),
                            concurrency=args.concurrency, warmup_s=args.warmup, duration_s=args.duration)
    data = json.loads(out.read_text())
    total = max(1, data["samples"])
    lines = [f"1 worker, concurrency {args.concurrency}: {load.rps:.0f} req/s, p50 {load.p50_ms:.0f} ms, "
             f"p99 {load.p99_ms:.0f} ms (with the sampler running); {data['rounds']} sampling rounds, "
             f"{data['samples']} thread samples inside gateway code", "",
             "where request threads spend wall time (inclusive, % of thread samples):"]
    lines += [f"{100 * count / total:>6.1f}%  {name}" for name, count in data["inclusive"][:40]]
    lines += ["", "innermost frame (what the thread is doing right now):"]
    lines += [f"{100 * count / total:>6.1f}%  {name}" for name, count in data["leaf"][:12]]
    return "\n".join(lines)


def profile(args: argparse.Namespace) -> None:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    report = [f"request-path profile, embedded profile, commit {git_revision()}", "", "== cProfile =="]
    with tempfile.TemporaryDirectory(prefix="rg-profile-") as tmp:
        report.append(cprofile_request_path(args.profile_requests, OUT_DIR / "portal-embedded.prof", Path(tmp)))
        report += ["", "== wall-clock stack samples under load ==", sample_under_load(args, Path(tmp))]
    text = "\n".join(report)
    (OUT_DIR / "portal-profile.txt").write_text(text)
    print(text)
    print(f"\nwritten to {(OUT_DIR / 'portal-profile.txt').relative_to(REPO)}")


def git_revision() -> str:
    """HEAD and whether product files differ from it (others edit the tree while benchmarks run)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        # --no-optional-locks: read only, no index refresh while others use the repository
        dirty = subprocess.run(["git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=no",
                                "gateway", "adapters"], cwd=REPO, capture_output=True, text=True, timeout=10,
                               check=True).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    changed = [line for line in dirty if line.strip()]
    return head + (f" + {len(changed)} modified product file(s)" if changed else "")


# -- the whole benchmark ----------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per run")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", default="1,2", help="uvicorn worker counts to try")
    parser.add_argument("--profiles", default="embedded,scaleout")
    parser.add_argument("--rate", type=float, default=300.0,
                        help="offered load of the extra open-loop run (embedded, best worker count); 0 = skip")
    parser.add_argument("--out", type=Path, default=OUT_DIR / "portal.json")
    parser.add_argument("--profile", action="store_true",
                        help="instead of the benchmark: profile the embedded request path (cProfile + sampling)")
    parser.add_argument("--profile-requests", type=int, default=2000)
    return parser.parse_args(argv)


def _attempt(target: str, workers: int, args: argparse.Namespace, tmp: Path, failures: list[str],
             rate: float | None = None) -> Run | None:
    label = f"{target} workers={workers}" + (f" open loop {rate:.0f}/s" if rate else "")
    print(f"  {label:<36} ...", end=" ", flush=True)
    try:
        run = bench_one(target, workers, args, tmp, rate)
    except Exception as exc:  # one broken run must not cost the others
        failures.append(f"{label}: {type(exc).__name__}: {str(exc)[:500]}")
        print(f"FAILED: {type(exc).__name__}: {str(exc)[:300]}", flush=True)
        return None
    print(f"{run.load.rps:8.1f} req/s  p50 {run.load.p50_ms:6.1f} ms  p99 {run.load.p99_ms:7.1f} ms  "
          f"errors {run.load.errors}  foreign CPU {run.foreign_cpu_pct:.0f}%", flush=True)
    return run


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    workers = [int(w) for w in args.workers.split(",")]
    profiles = [p for p in args.profiles.split(",") if p]
    skipped: dict[str, str] = {}
    if "scaleout" in profiles and (reason := services_available()):
        skipped["scaleout"] = reason
        profiles.remove("scaleout")
        print(f"scale-out profile skipped: {reason}", flush=True)
    runs: list[Run] = []
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="rg-bench-") as tmp_name:
        tmp = Path(tmp_name)
        for count in workers:  # floor and gateway alternate so drift hits both alike
            for target in ["floor", *profiles]:
                if run := _attempt(target, count, args, tmp, failures):
                    runs.append(run)
        embedded = [r for r in runs if r.target == "embedded"]
        if args.rate and embedded:
            best = max(embedded, key=lambda r: r.load.rps)
            for target in ("floor", "embedded"):
                if run := _attempt(target, best.workers, args, tmp, failures, rate=args.rate):
                    runs.append(run)
    busiest = max((r.foreign_cpu_pct for r in runs), default=0.0)
    warnings = [f"other processes used up to {busiest:.0f}% of a core during the runs: the figures are "
                "pessimistic, repeat on a quiet machine"] if busiest > FOREIGN_CPU_WARN_PCT else []
    return {"benchmark": "portal", "machine": machine_info(), "revision": git_revision(), "skipped": skipped,
            "settings": {"concurrency": args.concurrency, "warmup_s": args.warmup, "duration_s": args.duration,
                         "workers": workers, "open_loop_rate": args.rate, "uvicorn": UVICORN_OPTIONS,
                         "client": "tests/perf/loadgen.py (asyncio + uvloop, raw HTTP/1.1 keep-alive)"},
            "runs": [r.as_dict() for r in runs], "failures": failures, "warnings": warnings,
            "summary": summary_rows(runs, profiles, failures)}


def _find(runs: list[Run], target: str, workers: int, mode: str = "closed") -> Run | None:
    return next((r for r in runs if r.target == target and r.workers == workers and r.load.mode == mode), None)


def summary_rows(runs: list[Run], profiles: list[str], failures: list[str]) -> list[dict[str, Any]]:
    """Headline rows per profile at its best worker count (highest gateway req/s), floor alike."""
    rows: list[dict[str, Any]] = []
    for profile in profiles:
        candidates = [r for r in runs if r.target == profile and r.load.mode == "closed"
                      and _find(runs, "floor", r.workers) is not None]
        if not candidates:
            rows.append(_row(f"portal {profile}: no run succeeded", float("nan"), None, None, "", False))
            continue
        gw = max(candidates, key=lambda r: r.load.rps)
        floor = _find(runs, "floor", gw.workers)
        assert floor is not None
        label = f"portal {profile} (c={gw.load.concurrency}, {gw.workers} worker{'s' if gw.workers > 1 else ''})"
        embedded = profile == "embedded"
        rows += [
            _row(f"{label} req/s", gw.load.rps, floor.load.rps, floor.load.rps / gw.load.rps,
                 ">= 300" if embedded else "", gw.load.rps >= 300 if embedded else None),
            _row(f"{label} p50 ms", gw.load.p50_ms, floor.load.p50_ms, gw.load.p50_ms / floor.load.p50_ms, "", None),
            _row(f"{label} p99 ms", gw.load.p99_ms, floor.load.p99_ms, gw.load.p99_ms / floor.load.p99_ms,
                 "<= 50" if embedded else "", gw.load.p99_ms <= 50 if embedded else None),
            _row(f"{label} cost vs floor (floor req/s / gateway req/s)", floor.load.rps / gw.load.rps, 1.0,
                 floor.load.rps / gw.load.rps, "<= 3", floor.load.rps / gw.load.rps <= 3),
            _row(f"{label} server CPU ms/request", gw.server_cpu_ms_per_req, floor.server_cpu_ms_per_req,
                 gw.server_cpu_ms_per_req / floor.server_cpu_ms_per_req, "", None),
            _row(f"{label} errors (non-201, warm-up included)", gw.load.errors + sum(gw.load.warmup_errors.values()),
                 floor.load.errors + sum(floor.load.warmup_errors.values()), None, "0",
                 gw.load.errors + sum(gw.load.warmup_errors.values()) == 0),
        ]
    open_gw = next((r for r in runs if r.target == "embedded" and r.load.mode == "open"), None)
    open_floor = next((r for r in runs if r.target == "floor" and r.load.mode == "open"), None)
    if open_gw and open_floor:
        label = f"portal embedded open loop {open_gw.load.target_rate:.0f}/s ({open_gw.workers} w)"
        rows += [
            _row(f"{label} achieved req/s", open_gw.load.rps, open_floor.load.rps,
                 open_floor.load.rps / open_gw.load.rps, "", None),
            _row(f"{label} p99 ms", open_gw.load.p99_ms, open_floor.load.p99_ms,
                 open_gw.load.p99_ms / open_floor.load.p99_ms, "<= 50", open_gw.load.p99_ms <= 50),
        ]
    if failures:
        rows.append(_row("portal runs that failed", len(failures), None, None, "0", False))
    return rows


def _row(metric: str, value: float, floor: float | None, ratio: float | None, target: str,
         ok: bool | None) -> dict[str, Any]:
    return {"metric": metric, "value": value, "floor": floor, "ratio": ratio, "target": target, "pass": ok}


def print_runs(result: dict[str, Any]) -> None:
    machine = result["machine"]
    print(f"\nmachine: {machine['nproc']} cores, {machine['cpu_model']}, Python {machine['python']}")
    header = (f"{'target':<9} {'w':>1} {'mode':<6} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} "
              f"{'err':>4} {'srv CPU ms/req':>14} {'srv CPU% (per process)':>22} {'svc CPU%':>8} {'client CPU%':>11} "
              f"{'machine busy%':>13} {'foreign CPU%':>12}")
    print(header)
    print("-" * len(header))
    for run in result["runs"]:
        load = run["load"]
        per_process = "+".join(str(pct) for pct in run["process_cpu_pct"] if pct >= 1)
        server_cpu = f"{run['server_cpu_pct']:.0f}" + (f" ({per_process})" if run["workers"] > 1 else "")
        print(f"{run['target']:<9} {run['workers']:>1} {load['mode']:<6} {load['rps']:>8.1f} {load['p50_ms']:>7.1f} "
              f"{load['p99_ms']:>7.1f} {load['max_ms']:>7.1f} {load['errors']:>4} "
              f"{run['server_cpu_ms_per_req']:>14.2f} {server_cpu:>22} {run['services_cpu_pct']:>8.0f} "
              f"{load['client_cpu_pct']:>11.0f} {run['machine_busy_pct']:>13.0f} {run['foreign_cpu_pct']:>12.0f}")
        for note in run["notes"]:
            print(f"    note: {note}")
    print("CPU% columns are of one core (200% = both cores), 'machine busy%' of all cores;"
          " 'foreign' = used by processes outside this benchmark.")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.profile:
        profile(args)
        return {}
    print(f"portal benchmark: concurrency {args.concurrency}, {args.warmup:g} s warm-up + {args.duration:g} s "
          f"per run, workers {args.workers}", flush=True)
    result = run_benchmark(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print_runs(result)
    for line in result["failures"] + result["warnings"]:
        print(f"WARNING: {line}")
    print(f"written to {args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out}")
    return result


if __name__ == "__main__":
    main()

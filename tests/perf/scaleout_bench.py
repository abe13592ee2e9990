"""Scale-out benchmark (issue 13 item 8): portal intake on PostgreSQL + Redis with 1 and 2 server
processes, its scaling efficiency and lock waits per intake, and the embedded profile in the same run.

    .venv/bin/python -m tests.perf.scaleout_bench [--duration 8] [--quick]

efficiency = req/s with 2 processes / min(2 x req/s with 1 process, cores / CPU seconds per intake of
all processes together in the 1-process run). "All processes": the gateway's server processes, the
PostgreSQL backends serving their connections plus PostgreSQL's own background processes, Redis, and
the load generator (it plays the sender). Lock waits: every 10 ms the PostgreSQL backends of the
gateway's connections that wait on a lock (``pg_stat_activity.wait_event_type = 'Lock'``); a wait
is one backend seen waiting in consecutive samples; its time is the samples times 10 ms.
Results: a printed table and var/bench/scaleout.json (``summary`` rows as tests/perf/run_all.py reads).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from tests.perf.gateway_process import exit_on_sigterm
from tests.perf.loadgen import RequestFactory, cpu_seconds, machine_cpu, process_tree, run_load
from tests.perf.runinfo import describe, load_average, run_info
from tests.perf.servers import (
    GATEWAY_APP,
    HOST,
    OUT_DIR,
    Server,
    base_env,
    embedded_config,
    fetch_token,
    running,
    scaleout_config,
    services_available,
)

SAMPLE_S = 0.01
TARGET_EFFICIENCY = 0.85


@dataclass
class Measured:
    profile: str
    processes: int
    rps: float = 0.0
    requests: int = 0
    errors: int = 0
    p99_ms: float = 0.0
    cpu_s: dict[str, float] = field(default_factory=dict)  # gateway, postgresql, redis, load generator
    foreign_cpu_pct: float = 0.0
    lock_waits: int = 0
    lock_wait_s: float = 0.0
    waited_on: dict[str, int] = field(default_factory=dict)

    @property
    def cpu_s_per_intake(self) -> float:
        return sum(self.cpu_s.values()) / max(1, self.requests)


def _gateway_ports(server: Server) -> set[int]:
    """The local ports of the server processes' TCP connections to PostgreSQL (port 5432)."""
    inodes: set[str] = set()
    for pid in process_tree(server.proc.pid):
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


class _Sampler:
    """Samples pg_stat_activity for the gateway's backends: lock waits and which backends are ours."""

    def __init__(self, server: Server, pg_url: str) -> None:
        self._server, self._engine = server, sa.create_engine(pg_url, pool_size=1)
        self._stop = threading.Event()
        self.backends: set[int] = set()
        self.waits = 0
        self.wait_samples = 0
        self.waited_on: dict[str, int] = {}  # wait event and statement: how often
        self._waiting: set[int] = set()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.counting = False

    def __enter__(self) -> _Sampler:
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
                    ports, refreshed = _gateway_ports(self._server), time.monotonic()
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


def _postgres_background() -> list[int]:
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


def _measure(profile: str, processes: int, args: argparse.Namespace, tmp: Path) -> Measured:
    log_path = OUT_DIR / "logs" / f"scaleout-{profile}-p{processes}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    configure = embedded_config if profile == "embedded" else scaleout_config
    result = Measured(profile, processes)
    with configure(tmp) as config_file, running(GATEWAY_APP, processes, base_env(config_file), log_path) as server:
        pg_url = yaml.safe_load(config_file.read_text()).get("database_url") if profile == "scaleout" else None
        sampler = _Sampler(server, pg_url) if pg_url else None
        with sampler or contextlib.nullcontext():
            background = _postgres_background() if sampler else []

            def probe() -> dict[str, float]:
                backends = sorted(sampler.backends) if sampler else []
                if sampler:
                    sampler.counting = not sampler.counting  # on at the window's start, off at its end
                busy, _total = machine_cpu()
                values = {"gateway": cpu_seconds(server.pids), "machine": busy}
                if sampler:
                    values["background"] = cpu_seconds(background)
                    values.update({f"pid:{p}": cpu_seconds([p]) for p in backends})
                return values

            token = fetch_token(server.port)
            load = run_load(RequestFactory(HOST, server.port, token), concurrency=args.concurrency,
                            warmup_s=args.warmup, duration_s=args.duration, probe=probe)
    start, end = load.probe_start, load.probe_end
    wall = end["wall"] - start["wall"]
    result.rps, result.requests, result.errors, result.p99_ms = load.rps, load.requests, load.errors, load.p99_ms
    result.cpu_s = {"gateway": end["gateway"] - start["gateway"], "load generator": load.client_cpu_s}
    if sampler:
        # backends that connected during the window count from 0: their whole life lies in it
        services = sum(end[k] - start.get(k, 0.0) for k in end if k.startswith("pid:"))
        result.cpu_s["postgresql+redis"] = services + end["background"] - start["background"]
        result.lock_waits, result.lock_wait_s = sampler.waits, sampler.wait_samples * SAMPLE_S
        result.waited_on = sampler.waited_on
    result.foreign_cpu_pct = max(0.0, 100 * (end["machine"] - start["machine"] - sum(result.cpu_s.values())) / wall)
    return result


def _row(metric: str, value: float, target: str = "", passed: bool | None = None) -> dict[str, Any]:
    return {"metric": metric, "value": round(value, 4), "floor": None, "ratio": None, "target": target,
            "pass": passed}


def summarise(runs: dict[tuple[str, int], Measured]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cores = os.cpu_count() or 1
    one, two = runs.get(("scaleout", 1)), runs.get(("scaleout", 2))
    for (profile, processes), run in sorted(runs.items()):
        label = f"scale-out portal {profile} {processes} process{'es' if processes > 1 else ''}"
        rows += [_row(f"{label} intakes/s", run.rps), _row(f"{label} p99 ms", run.p99_ms),
                 _row(f"{label} CPU s per intake (all processes)", run.cpu_s_per_intake),
                 _row(f"{label} errors", run.errors, "0", run.errors == 0),
                 _row(f"{label} foreign CPU % of one core", run.foreign_cpu_pct)]
        if profile == "scaleout":
            rows += [_row(f"{label} lock waits per intake", run.lock_waits / max(1, run.requests)),
                     _row(f"{label} lock wait ms per intake", 1000 * run.lock_wait_s / max(1, run.requests))]
    if one and two and one.rps > 0:
        bound = min(2 * one.rps, cores / max(one.cpu_s_per_intake, 1e-9))
        efficiency = two.rps / bound
        rows.append(_row(f"scale-out portal scaling efficiency (2 vs 1 process; bound {bound:.0f}/s, "
                         f"{cores} cores)", efficiency, f">= {TARGET_EFFICIENCY}", efficiency >= TARGET_EFFICIENCY))
    else:
        rows.append(_row("scale-out portal scaling efficiency: a run failed", float("nan"), f">= {TARGET_EFFICIENCY}",
                         False))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--quick", action="store_true", help="a smoke test of the machinery")
    parser.add_argument("--out", type=Path, default=OUT_DIR / "scaleout.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup = 2.0, 0.5
    exit_on_sigterm()
    info = run_info()
    if reason := services_available():
        print(f"scale-out benchmark needs PostgreSQL and Redis: {reason}", flush=True)
        rows = [_row(f"scale-out: {reason}", float("nan"), "", False)]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"run": info, "summary": rows}, indent=2))
        return 1
    runs: dict[tuple[str, int], Measured] = {}
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="rg-scaleout-") as tmp_name:
        for profile, processes in (("scaleout", 1), ("scaleout", 2), ("embedded", 1)):
            print(f"  {profile} processes={processes} ...", end=" ", flush=True)
            try:
                run = _measure(profile, processes, args, Path(tmp_name))
            except Exception as exc:  # one broken run must not cost the others
                failures.append(f"{profile} {processes}: {type(exc).__name__}: {str(exc)[:300]}")
                print(f"FAILED: {failures[-1]}", flush=True)
                continue
            runs[(profile, processes)] = run
            print(f"{run.rps:7.1f}/s p99 {run.p99_ms:6.1f} ms cpu/intake {1000 * run.cpu_s_per_intake:5.2f} ms "
                  f"{ {k: round(v, 2) for k, v in run.cpu_s.items()} } lock waits {run.lock_waits} "
                  f"({1000 * run.lock_wait_s:.0f} ms) foreign {run.foreign_cpu_pct:.0f}%", flush=True)
            for what, count in sorted(run.waited_on.items(), key=lambda item: -item[1])[:3]:
                print(f"      waited {count}x on {what}", flush=True)
    rows = summarise(runs)
    for row in rows:
        print(f"  {row['metric']:<84} {row['value']:>10}  {row['target']}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"run": {**info, "load_after": load_average(), "machine": describe(info)},
                                    "runs": {f"{p}-{n}": r.__dict__ for (p, n), r in runs.items()},
                                    "failures": failures, "summary": rows}, indent=2, default=str))
    return 0 if all(r["pass"] is not False for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())

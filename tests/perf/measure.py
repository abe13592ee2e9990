"""One run of the portal benchmark: start the server (floor, or gateway with its profile's
configuration), drive it with the load generator and account for the CPU time from /proc.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.perf.loadgen import LoadResult, RequestFactory, cpu_seconds, machine_cpu, run_load, service_pids
from tests.perf.servers import (
    FLOOR_APP,
    GATEWAY_APP,
    HOST,
    REPO,
    Server,
    base_env,
    embedded_config,
    fetch_token,
    running,
    scaleout_config,
)


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

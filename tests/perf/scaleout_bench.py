"""Scale-out benchmark (issue 13 item 8): portal intake on PostgreSQL + Redis with 1 and 2 server
processes, its scaling efficiency and lock waits per intake, and the embedded profile in the same run.

    .venv/bin/python -m tests.perf.scaleout_bench [--duration 8] [--quick]

efficiency = req/s with 2 processes / min(2 x req/s with 1 process, cores / CPU seconds per intake of
all processes together in the 1-process run). "All processes": the gateway's server processes, the
PostgreSQL backends serving their connections plus PostgreSQL's own background processes, Redis, and
the load generator (it plays the sender). Lock waits: every 10 ms the PostgreSQL backends of the
gateway's connections that wait on a lock (``pg_stat_activity.wait_event_type = 'Lock'``); a wait
is one backend seen waiting in consecutive samples; its time is the samples times 10 ms.
The FIT-Connect line (an API process and 1, then 2 worker processes doing the intake, the same
efficiency and lock-wait figures) runs after these; tests/perf/scaleout_fitconnect.py says how.
Results: a printed table and var/bench/scaleout.json (``summary`` rows as tests/perf/run_all.py reads).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.perf.gateway_process import exit_on_sigterm
from tests.perf.loadgen import RequestFactory, cpu_seconds, machine_cpu, process_tree, run_load
from tests.perf.pg_activity import SAMPLE_S, Sampler, postgres_background
from tests.perf.runinfo import describe, load_average, run_info
from tests.perf.scaleout_fitconnect import FitConnectRun, describe_run
from tests.perf.scaleout_fitconnect import measure as measure_fitconnect
from tests.perf.servers import (
    GATEWAY_APP,
    HOST,
    OUT_DIR,
    base_env,
    embedded_config,
    fetch_token,
    running,
    scaleout_config,
    services_available,
)

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


def _measure(profile: str, processes: int, args: argparse.Namespace, tmp: Path) -> Measured:
    log_path = OUT_DIR / "logs" / f"scaleout-{profile}-p{processes}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    configure = embedded_config if profile == "embedded" else scaleout_config
    result = Measured(profile, processes)
    with configure(tmp) as config_file, running(GATEWAY_APP, processes, base_env(config_file), log_path) as server:
        pg_url = yaml.safe_load(config_file.read_text()).get("database_url") if profile == "scaleout" else None
        sampler = Sampler(lambda: process_tree(server.proc.pid), pg_url) if pg_url else None
        with sampler or contextlib.nullcontext():
            background = postgres_background() if sampler else []

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


def _efficiency(line: str, one_per_s: float, one_cpu_s_per_intake: float, two_per_s: float) -> dict[str, Any]:
    cores = os.cpu_count() or 1
    bound = min(2 * one_per_s, cores / max(one_cpu_s_per_intake, 1e-9))
    efficiency = two_per_s / bound
    return _row(f"scale-out {line} scaling efficiency (2 vs 1; bound {bound:.1f}/s, {cores} cores)", efficiency,
                f">= {TARGET_EFFICIENCY}", efficiency >= TARGET_EFFICIENCY)


def summarise_fitconnect(runs: dict[int, FitConnectRun]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for workers, run in sorted(runs.items()):
        label = f"scale-out fitconnect {workers} worker process{'es' if workers > 1 else ''}"
        rows += [_row(f"{label} intakes/s", run.per_s),
                 _row(f"{label} CPU s per intake (all processes)", run.cpu_s_per_intake),
                 _row(f"{label} lock waits per intake", run.lock_waits / max(1, run.intakes)),
                 _row(f"{label} lock wait ms per intake", 1000 * run.lock_wait_s / max(1, run.intakes)),
                 _row(f"{label} foreign CPU % of one core", run.foreign_cpu_pct)]
    one, two = runs.get(1), runs.get(2)
    if one and two and one.per_s > 0:
        rows.append(_efficiency("fitconnect", one.per_s, one.cpu_s_per_intake, two.per_s))
    else:
        rows.append(_row("scale-out fitconnect scaling efficiency: a run failed", float("nan"),
                         f">= {TARGET_EFFICIENCY}", False))
    return rows


def summarise(runs: dict[tuple[str, int], Measured]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
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
        rows.append(_efficiency("portal", one.rps, one.cpu_s_per_intake, two.rps))
    else:
        rows.append(_row("scale-out portal scaling efficiency: a run failed", float("nan"), f">= {TARGET_EFFICIENCY}",
                         False))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--fitconnect-intakes", type=int, default=200, help="submissions per FIT-Connect run")
    parser.add_argument("--quick", action="store_true", help="a smoke test of the machinery")
    parser.add_argument("--out", type=Path, default=OUT_DIR / "scaleout.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.fitconnect_intakes = 2.0, 0.5, 4
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
        fitconnect: dict[int, FitConnectRun] = {}
        for workers in (1, 2):
            print(f"  fitconnect workers={workers} ...", end=" ", flush=True)
            try:
                fitconnect[workers] = measure_fitconnect(workers, args.fitconnect_intakes,
                                                         Path(tmp_name) / f"fitconnect-{workers}")
            except Exception as exc:  # one broken run must not cost the others
                failures.append(f"fitconnect {workers}: {type(exc).__name__}: {str(exc)[:1500]}")
                print(f"FAILED: {failures[-1]}", flush=True)
                continue
            print(describe_run(fitconnect[workers]), flush=True)
            for what, count in sorted(fitconnect[workers].waited_on.items(), key=lambda item: -item[1])[:3]:
                print(f"      waited {count}x on {what}", flush=True)
    rows = summarise(runs) + summarise_fitconnect(fitconnect)
    for row in rows:
        print(f"  {row['metric']:<84} {row['value']:>10}  {row['target']}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"run": {**info, "load_after": load_average(), "machine": describe(info)},
                                    "runs": {f"{p}-{n}": r.__dict__ for (p, n), r in runs.items()},
                                    "fitconnect_runs": {f"workers-{n}": {**r.__dict__, "per_s": r.per_s}
                                                        for n, r in fitconnect.items()},
                                    "failures": failures, "summary": rows}, indent=2, default=str))
    return 0 if all(r["pass"] is not False for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Portal benchmark: applications per second and p50/p99 at concurrency 32, both profiles,
next to the floor (the bare framework answering the same request) measured in the same run.

    .venv/bin/python -m tests.perf.portal_bench [--duration 10] [--workers 1,2]

Every server is a separate ``uvicorn`` process (same options for floor and gateway), the
gateway on a fresh data dir (embedded) or a fresh PostgreSQL schema and Redis queue name
(scale-out). Traffic goes to 127.0.0.1 only. Results: a printed table and var/bench/portal.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from tests.perf.gateway_process import exit_on_sigterm
from tests.perf.measure import Run, bench_one
from tests.perf.portal_profile import profile
from tests.perf.report import print_runs, summary_rows
from tests.perf.runinfo import describe, load_average, run_info
from tests.perf.servers import OUT_DIR, REPO, UVICORN_OPTIONS, services_available

FOREIGN_CPU_WARN_PCT = 25.0  # of one core


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
    info = run_info()
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
    return {"benchmark": "portal", **info, "load_average_end": load_average(), "skipped": skipped,
            "settings": {"concurrency": args.concurrency, "warmup_s": args.warmup, "duration_s": args.duration,
                         "workers": workers, "open_loop_rate": args.rate, "uvicorn": UVICORN_OPTIONS,
                         "client": "tests/perf/loadgen.py (asyncio + uvloop, raw HTTP/1.1 keep-alive)"},
            "runs": [r.as_dict() for r in runs], "failures": failures, "warnings": warnings,
            "summary": summary_rows(runs, profiles, failures)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    exit_on_sigterm()  # its servers (sessions of their own) are stopped on the way out
    if args.profile:
        profile(args)
        return {}
    print(f"portal benchmark: concurrency {args.concurrency}, {args.warmup:g} s warm-up + {args.duration:g} s "
          f"per run, workers {args.workers}", flush=True)
    result = run_benchmark(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print_runs(result)
    print(f"{describe(result)}; load average at the end {' '.join(str(v) for v in result['load_average_end'])}")
    for line in result["failures"] + result["warnings"]:
        print(f"WARNING: {line}")
    print(f"written to {args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out}")
    return result


if __name__ == "__main__":
    main()

"""``make bench``: the portal benchmark, then the channel benchmarks that exist, then one table.

    .venv/bin/python -m tests.perf.run_all [--quick] [--skip-portal]

The channel benchmarks (tests/perf/fitconnect/bench_intake.py, tests/perf/xta/bench_intake.py,
tests/perf/fitconnect/bench_postbox.py -- replies to the citizen postbox, its 20-decision size with
``--quick``) run as subprocesses with a time limit each; a missing one is skipped with a message. To
appear in the summary table, a channel benchmark writes ``var/bench/<name>.json`` with a
``summary`` list of rows ``{"metric", "value", "floor", "ratio", "target", "pass"}`` (the
portal benchmark's format); otherwise only its exit status is shown. The whole run stops by
itself within ``TOTAL_BUDGET_S``; all traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.perf import portal_bench

REPO = Path(__file__).resolve().parents[2]
OUT_DIR = REPO / "var" / "bench"
TOTAL_BUDGET_S = 870.0  # the whole run stays under 15 minutes (3,000 postbox decisions take 3-4 of them)
MIN_CHANNEL_BUDGET_S = 30.0
CHANNEL_BENCHES = [("fitconnect", "tests/perf/fitconnect/bench_intake.py"), ("xta", "tests/perf/xta/bench_intake.py"),
                   ("postbox", "tests/perf/fitconnect/bench_postbox.py"),
                   ("large", "tests/perf/large/bench_large.py")]
QUICK_ARGS = {"postbox": ["--quick"]}  # benchmarks with a smaller size for --quick


def run_channel(name: str, script: str, budget_s: float, quick: bool = False) -> list[dict[str, Any]]:
    path = REPO / script
    if not path.exists():
        print(f"\n== {name}: {script} not present, skipped", flush=True)
        return [_status_row(name, "skipped (not present)", None)]
    if budget_s < MIN_CHANNEL_BUDGET_S:
        print(f"\n== {name}: skipped, only {budget_s:.0f} s left of the time budget", flush=True)
        return [_status_row(name, "skipped (time budget)", None)]
    module = script.removesuffix(".py").replace("/", ".")
    result_file = OUT_DIR / f"{name}.json"
    started = time.time()
    print(f"\n== {name}: python -m {module} (limit {budget_s:.0f} s)", flush=True)
    # its own session, so a time-out ends the benchmark together with the servers it started
    extra = QUICK_ARGS.get(name, []) if quick else []
    proc = subprocess.Popen([sys.executable, "-m", module, *extra], cwd=REPO, start_new_session=True)
    try:
        proc.wait(timeout=budget_s)
    except subprocess.TimeoutExpired:
        _end_session(proc)
        return [_status_row(name, f"timed out after {budget_s:.0f} s", False)]
    if result_file.exists() and result_file.stat().st_mtime >= started:
        try:
            rows = json.loads(result_file.read_text()).get("summary")
        except (OSError, ValueError):
            rows = None
        if isinstance(rows, list) and rows:
            return [row for row in rows if isinstance(row, dict) and "metric" in row]
    return [_status_row(name, f"exit status {proc.returncode}, no summary rows (see its output above)",
                        proc.returncode == 0)]


def _end_session(proc: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=wait)
            return


def _status_row(name: str, text: str, ok: bool | None) -> dict[str, Any]:
    return {"metric": f"{name} benchmark: {text}", "value": None, "floor": None, "ratio": None, "target": "",
            "pass": ok}


def _cell(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return "—" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def print_summary(rows: list[dict[str, Any]]) -> None:
    verdict = {True: "pass", False: "FAIL", None: ""}
    width = max(len(str(row["metric"])) for row in rows)
    header = f"{'metric':<{width}}  {'value':>10}  {'floor':>9}  {'ratio':>7}  {'target':>7}  result"
    print("\n== summary\n" + header + "\n" + "-" * len(header))
    for row in rows:
        print(f"{row['metric']:<{width}}  {_cell(row.get('value')):>10}  {_cell(row.get('floor')):>9}  "
              f"{_cell(row.get('ratio'), 2):>7}  {row.get('target') or '':>7}  {verdict.get(row.get('pass'), '')}")
    print("ratio: floor req/s ÷ gateway req/s for throughput and cost rows, gateway ÷ floor for latency and CPU rows")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short portal runs (3 s) for a smoke test")
    parser.add_argument("--skip-portal", action="store_true")
    args = parser.parse_args(argv)
    started = time.monotonic()
    rows: list[dict[str, Any]] = []
    if not args.skip_portal:
        print("== portal", flush=True)
        portal_args = ["--duration", "3", "--warmup", "1"] if args.quick else []
        try:
            rows += portal_bench.main(portal_args)["summary"]
        except Exception as exc:  # report it and still run the channel benchmarks
            print(f"portal benchmark failed: {type(exc).__name__}: {exc}", flush=True)
            rows.append(_status_row("portal", f"failed: {type(exc).__name__}", False))
    for name, script in CHANNEL_BENCHES:
        remaining = TOTAL_BUDGET_S - (time.monotonic() - started)
        # leave the second benchmark its share of what is left
        share = remaining / (len(CHANNEL_BENCHES) - CHANNEL_BENCHES.index((name, script)))
        rows += run_channel(name, script, share, args.quick)
    print_summary(rows)
    print(f"total {time.monotonic() - started:.0f} s; details in {OUT_DIR.relative_to(REPO)}/")
    return 1 if any(row.get("pass") is False for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())

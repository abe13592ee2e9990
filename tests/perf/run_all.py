"""``make bench``: the three benchmarks of issue 9 (item 8) in one run, then one table.

    .venv/bin/python -m tests.perf.run_all [--quick] [--only portal,fitconnect,xta]

1. portal (embedded profile): applications/s at concurrency 32 and p99 at an offered 300/s;
2. FIT-Connect: full intake CPU per submission, callback to accept, against the PyPI SDK's
   receive path on the same submissions (``tests/perf/fitconnect/bench_intake.py``);
3. XTA: full intake CPU per message against the floor of the same run
   (``tests/perf/xta/bench_intake.py``);
4. replies: 3,000 decisions to the citizen postbox sandbox (``tests/perf/fitconnect/bench_postbox.py``);
5. large content: 1 GiB through FIT-Connect and XTA with bounded memory (``tests/perf/large/bench_large.py``);
6. scale-out (issue 13 item 8): portal intake on PostgreSQL + Redis with 1 and 2 server processes, the
   scaling efficiency and lock waits per intake, the embedded profile in the same run
   (``tests/perf/scaleout_bench.py``).

Each runs as a subprocess with a share of the time budget (ended with its process group when it
exceeds it) and writes ``var/bench/<name>.json`` with a ``summary`` list of rows ``{"metric",
"value", "floor", "ratio", "target", "pass"}``. This module prints them in one table with the
machine, the commit and the load average before and after, and writes ``var/bench/summary.json``.
The whole run stays under ``TOTAL_BUDGET_S``; its exit status is 1 when a target is missed.
All traffic goes to 127.0.0.1. ``--quick`` is a smoke test of the machinery (figures meaningless).
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

from tests.perf.runinfo import describe, load_average, run_info

REPO = Path(__file__).resolve().parents[2]
OUT_DIR = REPO / "var" / "bench"
TOTAL_BUDGET_S = 870.0  # the whole run stays under 15 minutes
MIN_BUDGET_S = 30.0
# name, module, arguments of a full run, arguments of a quick run, expected share of the time
BENCHES: list[tuple[str, str, list[str], list[str], float]] = [
    ("portal", "tests.perf.portal_bench", ["--profiles", "embedded"],
     ["--profiles", "embedded", "--workers", "1", "--duration", "2", "--warmup", "0.5"], 0.15),
    ("fitconnect", "tests.perf.fitconnect.bench_intake", [], ["--quick"], 0.12),
    ("xta", "tests.perf.xta.bench_intake", [], ["--quick"], 0.12),
    ("postbox", "tests.perf.fitconnect.bench_postbox", [], ["--quick"], 0.3),
    ("large", "tests.perf.large.bench_large", [], ["--mib", "16", "--runs", "jwe,xta"], 0.25),
    # the FIT-Connect line builds and encrypts its submissions first: 100 per run keeps it near 2 minutes
    ("scaleout", "tests.perf.scaleout_bench", ["--fitconnect-intakes", "100"], ["--quick"], 0.15),
]


def run_bench(name: str, module: str, args: list[str], budget_s: float) -> list[dict[str, Any]]:
    if not (REPO / (module.replace(".", "/") + ".py")).exists():
        print(f"\n== {name}: {module} not present, skipped", flush=True)
        return []
    if budget_s < MIN_BUDGET_S:
        print(f"\n== {name}: skipped, only {budget_s:.0f} s left of the time budget", flush=True)
        return [_status_row(name, "skipped (time budget)", False)]
    result_file = OUT_DIR / f"{name}.json"
    started = time.time()
    print(f"\n== {name}: python -m {module} {' '.join(args)} (limit {budget_s:.0f} s)", flush=True)
    # its own session, so a time-out ends the benchmark together with the servers it started
    proc = subprocess.Popen([sys.executable, "-m", module, *args], cwd=REPO, start_new_session=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
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
    return [_status_row(name, f"exit status {proc.returncode}, no summary rows (see its output above)", False)]


def _end_session(proc: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 5.0)):  # SIGTERM: it stops its gateways
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
    header = f"{'metric':<{width}}  {'value':>9}  {'vs':>9}  {'ratio':>6}  {'target':>7}  result"
    print("\n== summary\n" + header + "\n" + "-" * len(header))
    for row in rows:
        print(f"{row['metric']:<{width}}  {_cell(row.get('value')):>9}  {_cell(row.get('floor')):>9}  "
              f"{_cell(row.get('ratio'), 2):>6}  {row.get('target') or '':>7}  {verdict.get(row.get('pass'), '')}")
    print("vs: what the value is compared with (the floor or the SDK of the same run); ratio: value ÷ vs "
          "(portal throughput: floor req/s ÷ gateway req/s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smoke test of the machinery (figures meaningless)")
    parser.add_argument("--only", default="", help="comma-separated subset: portal, fitconnect, xta")
    args = parser.parse_args(argv)
    chosen = [b for b in BENCHES if not args.only or b[0] in args.only.split(",")]
    info = run_info()
    print(f"make bench: {describe(info)}", flush=True)
    started = time.monotonic()
    rows: list[dict[str, Any]] = []
    for index, (name, module, full, quick, _) in enumerate(chosen):
        remaining = TOTAL_BUDGET_S - (time.monotonic() - started)
        weights = [b[4] for b in chosen[index:]]
        budget = remaining * weights[0] / sum(weights) if index < len(chosen) - 1 else remaining
        # a benchmark that finishes early leaves its time to the next ones
        rows += run_bench(name, module, quick if args.quick else full, max(budget, MIN_BUDGET_S)
                          if remaining > MIN_BUDGET_S else 0.0)
    print_summary(rows)
    end = load_average()
    print(f"machine: {describe(info)}; load average at the end {' '.join(str(v) for v in end)}")
    print(f"total {time.monotonic() - started:.0f} s; details in {OUT_DIR.relative_to(REPO)}/")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / "summary.json").write_text(json.dumps({**info, "load_average_end": end, "quick": args.quick,
                                                      "rows": rows}, indent=1) + "\n", encoding="utf-8")
    return 1 if any(row.get("pass") is False for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())

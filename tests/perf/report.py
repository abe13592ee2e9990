"""Results of the portal benchmark: the headline summary rows (the format ``run_all`` and the
channel benchmarks share), the printed table of all runs, and the revision the numbers belong to.
"""

from __future__ import annotations

import subprocess
from typing import Any

from tests.perf.measure import Run
from tests.perf.servers import REPO


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
            # at c=32 a closed loop's latency is 32 / throughput (Little's law): the p99 target is the open loop's
            _row(f"{label} p99 ms", gw.load.p99_ms, floor.load.p99_ms, gw.load.p99_ms / floor.load.p99_ms, "", None),
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
    print()
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

"""``make bench``: a 1 GiB attachment through the full intake, with bounded memory (issue 10).

    .venv/bin/python -m tests.perf.large.bench_large [--mib 1024] [--runs jwe,fragments,xta]

Three runs, each from the sandbox to the acknowledgement, through a gateway worker process of
its own (:mod:`.stack`): a FIT-Connect attachment as one compact JWE, the same size in
fragments of 64 MiB, and an XTA MTOM attachment. Targets: the worker's peak resident memory
grows by at most 64 MiB; the wall time is at most 3x the floor of the same run (:mod:`.content`).
The content is generated on the fly and removed afterwards; about 5 GB of disk are used at a
time. Writes ``var/bench/large.json`` (``summary`` rows for ``run_all``).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.perf.large.runs import Result, run_fitconnect, run_xta, warm_up
from tests.perf.large.stack import REPO, running

MIB = 1024 * 1024
MAX_GROWTH = 64 * MIB
MAX_RATIO = 3.0
FRAGMENT_BYTES = 64 * MIB
OUT = REPO / "var" / "bench" / "large.json"


def measure(size: int, runs: list[str], tmp: Path, fragment_bytes: int = FRAGMENT_BYTES) -> list[Result]:
    """The runs asked for, on one stack; every run's content removed when it is done."""
    results = []
    with running(tmp, max_bytes=max(size, 1024 * MIB)) as stack:
        warm_up(stack)
        for run in runs:
            if run == "jwe":
                results.append(run_fitconnect(stack, size, None))
            elif run == "fragments":
                results.append(run_fitconnect(stack, size, fragment_bytes))
            elif run == "xta":
                results.append(run_xta(stack, size))
            else:
                raise ValueError(f"unknown run {run!r}")
            print(_line(results[-1]), flush=True)
    return results


def summary(results: list[Result]) -> list[dict[str, Any]]:
    rows = []
    for r in results:
        label = f"large: {r.name}, {r.size // MIB} MiB"
        rows.append({"metric": f"{label}, wall s", "value": round(r.wall_s, 2), "floor": round(r.floor_s, 2),
                     "ratio": round(r.ratio, 2), "target": f"<= {MAX_RATIO:g}x", "pass": r.ratio <= MAX_RATIO})
        rows.append({"metric": f"{label}, peak RSS growth MiB", "value": round(r.growth / MIB, 1), "floor": None,
                     "ratio": None, "target": f"<= {MAX_GROWTH // MIB}", "pass": r.growth <= MAX_GROWTH})
    return rows


def _line(r: Result) -> str:
    return (f"{r.name}: {r.size // MIB} MiB in {r.wall_s:.2f} s (floor {r.floor_s:.2f} s, {r.ratio:.2f}x); "
            f"worker RSS {r.rss_before / MIB:.0f} MiB, peak {r.rss_peak / MIB:.0f} MiB (+{r.growth / MIB:.1f} MiB)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=1024, help="attachment size in MiB (default 1024)")
    parser.add_argument("--runs", default="jwe,fragments,xta", help="comma-separated: jwe, fragments, xta")
    args = parser.parse_args(argv)
    free = shutil.disk_usage(tempfile.gettempdir()).free
    if free < 6 * args.mib * MIB:
        print(f"only {free // MIB} MiB free in {tempfile.gettempdir()}; about {6 * args.mib} MiB are needed")
        return 1
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="large-content-") as tmp:
        results = measure(args.mib * MIB, args.runs.split(","), Path(tmp))
    rows = summary(results)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    revision = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    OUT.write_text(json.dumps({"summary": rows, "runs": [r.to_json() for r in results],
                               "machine": {"python": platform.python_version(), "cpus": _cpus()},
                               "revision": revision.stdout.strip(), "seconds": time.monotonic() - started},
                              indent=2))
    return 0 if all(row["pass"] for row in rows) else 1


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    sys.exit(main())

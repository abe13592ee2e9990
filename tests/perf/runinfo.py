"""What every benchmark result carries: the machine, the commit and how busy the machine was."""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from tests.perf.loadgen import machine_info
from tests.perf.report import git_revision


def load_average() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def run_info() -> dict[str, Any]:
    return {"machine": machine_info(), "revision": git_revision(), "load_average": load_average(),
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}


def describe(info: dict[str, Any]) -> str:
    machine = info["machine"]
    return (f"{machine['nproc']} CPUs {machine['cpu_model']}, {machine['implementation']} {machine['python']}, "
            f"commit {info['revision']}, load average {' '.join(str(v) for v in info['load_average'])}")

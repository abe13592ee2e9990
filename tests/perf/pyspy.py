"""Sampling profiles of running gateway processes with py-spy (PyPI; ``--profile`` of the channel
benchmarks). py-spy reads the process from outside: nothing in the gateway changes for it.

Only threads that hold the GIL are sampled (``--gil``): on a busy machine a thread that waits
for a CPU (or in ``fsync``) would otherwise count as working, so the samples follow the Python
CPU time, not the wall clock (C code that releases the GIL, RSA for one, is not seen). Each
process gets a ``py-spy record --format raw`` (collapsed stacks, one line per distinct stack with
its sample count); :func:`top` sums them per function, inclusive and self.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path


def available() -> str | None:
    candidate = Path(sys.executable).with_name("py-spy")
    return str(candidate) if candidate.exists() else shutil.which("py-spy")


class Recording:
    def __init__(self, pids: dict[str, int], out_dir: Path, prefix: str, rate: int = 250) -> None:
        binary = available()
        if binary is None:
            raise RuntimeError("py-spy is not installed: .venv/bin/pip install py-spy")
        out_dir.mkdir(parents=True, exist_ok=True)
        self.files = {name: out_dir / f"{prefix}-{name}.collapsed.txt" for name in pids}
        self._procs = [subprocess.Popen([binary, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw",
                                         "--nonblocking", "--gil", "--output", str(self.files[name])],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                       for name, pid in pids.items()]

    def stop(self) -> dict[str, Path]:
        for proc in self._procs:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)
        for proc in self._procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        return {name: path for name, path in self.files.items() if path.exists()}


def top(collapsed: Path, limit: int = 30, only: tuple[str, ...] = ()) -> str:
    """The functions with the most samples: inclusive (on the stack) and self (at the top)."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = stack.split(";")
        for frame in set(frames):
            inclusive[frame] += samples
        own[frames[-1]] += samples
    if not total:
        return f"{collapsed.name}: no samples"

    def rows(counter: Counter[str]) -> list[str]:
        chosen = [(f, n) for f, n in counter.most_common() if not only or any(o in f for o in only)][:limit]
        return [f"  {100 * n / total:5.1f}%  {f}" for f, n in chosen]

    return "\n".join([f"{collapsed.name}: {total} samples", " inclusive:", *rows(inclusive), " self:", *rows(own)])

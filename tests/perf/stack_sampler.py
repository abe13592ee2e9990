"""Wall-clock stack sampler for ``portal_bench --profile``: runs as a thread inside the gateway's
uvicorn worker (``sampled_gateway`` is the uvicorn factory) and writes its counts at exit.
"""

from __future__ import annotations

import atexit
import collections
import json
import os
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from tests.perf.servers import REPO


def _frame_name(frame: FrameType) -> str:
    code = frame.f_code
    file = code.co_filename.split("site-packages/")[-1].replace(f"{REPO}/", "")
    return f"{file}:{code.co_firstlineno}({code.co_name})"


class StackSampler(threading.Thread):
    """Wall-clock sampling of every thread that is inside gateway/ or adapters/ code: shows where
    requests *wait* under load (locks, pool, busy handler), which cProfile on one thread cannot."""

    def __init__(self, interval: float) -> None:
        super().__init__(name="stack-sampler", daemon=True)
        self.interval = interval
        self.rounds = 0
        self.samples = 0
        self.inclusive: collections.Counter[str] = collections.Counter()
        self.leaf: collections.Counter[str] = collections.Counter()
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(self.interval):
            self.rounds += 1
            for ident, top in sys._current_frames().items():
                if ident == self.ident:
                    continue
                stack: list[str] = []
                frame: FrameType | None = top
                while frame is not None:
                    stack.append(_frame_name(frame))
                    frame = frame.f_back
                if any(name.startswith(("gateway/", "adapters/")) for name in stack):
                    self.samples += 1
                    self.leaf[stack[0]] += 1
                    self.inclusive.update(set(stack))

    def dump(self, path: Path) -> None:
        self._done.set()
        path.write_text(json.dumps({"rounds": self.rounds, "samples": self.samples, "interval": self.interval,
                                    "inclusive": self.inclusive.most_common(60), "leaf": self.leaf.most_common(20)}))


def sampled_gateway() -> Any:
    """uvicorn factory for ``--profile``: the product's gateway plus a StackSampler in the process."""
    from gateway.asgi import create

    app = create()
    sampler = StackSampler(float(os.environ.get("BENCH_SAMPLE_INTERVAL", "0.005")))
    sampler.start()
    atexit.register(sampler.dump, Path(os.environ["BENCH_SAMPLE_OUT"]))
    return app

"""The allocator thresholds keep large intake buffers in the heap, but bounded: many threads
freeing large buffers must not leave the process with their sum resident."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent("""
    import sys, threading
    from gateway.process_tuning import tune_allocator
    assert tune_allocator() and tune_allocator()  # once, then a no-op

    def rss_mib():
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) // 1024 for line in status if line.startswith("VmRSS"))

    size = int(sys.argv[1]) << 20
    def work():
        for _ in range(3):
            buffer = bytearray(size)
            buffer[::4096] = b"x" * len(buffer[::4096])
            keep = [bytes(100) for _ in range(1000)]  # small allocations that outlive it
            del buffer
    threads = [threading.Thread(target=work) for _ in range(16)]
    [t.start() for t in threads]; [t.join() for t in threads]
    print(rss_mib())
""")


@pytest.mark.parametrize("buffer_mib", [3, 20, 40])
def test_memory_kept_for_reuse_is_bounded(buffer_mib: int) -> None:
    if not sys.platform.startswith("linux"):  # no glibc: the tuning reports that it did nothing
        from gateway.process_tuning import tune_allocator

        assert tune_allocator() is False
        return
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(buffer_mib)], cwd=ROOT, capture_output=True,
                            text=True, check=True, timeout=120)
    # untuned glibc keeps ~15 MiB here; with 16 arenas x 256 MiB it kept 650 MiB. Now: at most
    # 4 arenas x 32 MiB on top of the interpreter.
    assert int(result.stdout) < 4 * 32 + 40, result.stdout

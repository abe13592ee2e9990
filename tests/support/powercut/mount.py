"""Mount the power-cut filesystem for a test, cut its power, unmount it.

The filesystem runs in a process of its own (``python -m tests.support.powercut``): libfuse
takes over signal handling in the process that serves it, and a test that hangs on its own
mount could never be interrupted.
"""

from __future__ import annotations

import contextlib
import ctypes.util
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
FUSERMOUNT = "fusermount3"


def fuse_missing() -> str | None:
    """Why FUSE cannot run here, or None."""
    if not Path("/dev/fuse").exists():
        return "/dev/fuse does not exist (the fuse kernel module is not available)"
    if shutil.which(FUSERMOUNT) is None:
        return f"{FUSERMOUNT} is not installed (Debian package fuse3)"
    if ctypes.util.find_library("fuse3") is None:
        return "libfuse3 is not installed (Debian package libfuse3-3, a dependency of fuse3)"
    return None


def require_fuse() -> None:
    """A missing FUSE fails the test with what to do: a green run must mean the power cut ran."""
    reason = fuse_missing()
    if reason:
        pytest.fail(f"{reason}; the power-cut tests need FUSE: `make test` installs Debian's fuse3 as root, "
                    "or run `apt-get install -y --no-install-recommends fuse3`", pytrace=False)


class PowerCutMount:
    """``backing`` holds the files (and, after a cut, only the durable ones); ``path`` is where
    programs see them."""

    def __init__(self, root: Path) -> None:
        self.backing = root / "disk"
        self.path = root / "mnt"
        self._store = root / "durable-image"
        self._log = root / "powercut-fs.log"
        self._proc: subprocess.Popen[str] | None = None

    def mount(self) -> None:
        self.backing.mkdir(parents=True, exist_ok=True)
        self.path.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        with self._log.open("ab") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "tests.support.powercut", str(self.backing), str(self.path), str(self._store)],
                cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True)
        deadline = time.monotonic() + 20
        while not os.path.ismount(self.path):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise AssertionError(f"the power-cut filesystem did not mount; its log:\n{self.log()}")
            time.sleep(0.02)

    def power_off(self) -> None:
        """From now on nothing reaches the disk and every operation on the mount fails (EIO)."""
        proc = self._running()
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("off\n")
        proc.stdin.flush()
        answer = proc.stdout.readline().strip()
        assert answer == "off", f"the power-cut filesystem did not cut ({answer!r}); its log:\n{self.log()}"

    def cut(self) -> None:
        """Power off, then unmount: afterwards ``backing`` shows only what was durable."""
        self.power_off()
        self._unmount()

    def unmount(self) -> None:
        """A clean unmount: everything written stays, as after an orderly shutdown. After
        ``power_off`` it ends the cut instead (a test with traffic powers off at any moment,
        kills its processes, then unmounts: their open files would keep the mount busy)."""
        self._running()
        self._unmount()

    def log(self) -> str:
        return self._log.read_text(errors="replace")[-4000:] if self._log.exists() else ""

    def _running(self) -> subprocess.Popen[str]:
        assert self._proc is not None and self._proc.poll() is None, f"not mounted; log:\n{self.log()}"
        return self._proc

    def _unmount(self) -> None:
        proc = self._running()
        if subprocess.run([FUSERMOUNT, "-u", str(self.path)], capture_output=True).returncode != 0:
            # busy (a file still open somewhere): detach now, the process ends when it closes
            subprocess.run([FUSERMOUNT, "-u", "-z", str(self.path)], check=True, capture_output=True)
        try:
            status = proc.wait(30)
        except subprocess.TimeoutExpired:
            self.close()
            raise AssertionError(f"the power-cut filesystem did not stop; its log:\n{self.log()}") from None
        finally:
            self._close_pipes()
        assert status == 0, f"the power-cut filesystem failed (exit {status}); its log:\n{self.log()}"

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            subprocess.run([FUSERMOUNT, "-u", "-z", str(self.path)], capture_output=True)
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(10)
        self._close_pipes()

    def _close_pipes(self) -> None:
        if self._proc is not None:
            for pipe in (self._proc.stdin, self._proc.stdout):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()


@contextlib.contextmanager
def mounted(root: Path) -> Iterator[PowerCutMount]:
    """A mounted power-cut filesystem under ``root``; never left mounted, whatever happens."""
    require_fuse()
    mount = PowerCutMount(root)
    mount.mount()
    try:
        yield mount
    finally:
        mount.close()

"""``python -m tests.support.powercut BACKING MOUNTPOINT STORE``: serve the power-cut filesystem
in the foreground until it is unmounted (``mount.py`` drives it).

A line ``off`` on standard input cuts the power: the durable image is frozen and every later
operation fails with EIO; the answer ``off`` tells that it happened. When the filesystem is
unmounted after that, the backing directory is replaced by the durable image; after an unmount
without a cut it stays as it is. The exit status is 1 if any filesystem operation failed with an
unexpected exception (mfusepy logs those and answers EINVAL), so a bug here cannot hide.
"""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path

import mfusepy  # type: ignore[import-untyped]

from tests.support.powercut.fs import PowerCutFS
from tests.support.powercut.image import DurableImage


class _Failures(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        sys.stderr.write(self.format(record) + "\n")


def _control(image: DurableImage) -> None:
    for line in sys.stdin:
        if line.strip() == "off":
            image.power_off()
            sys.stdout.write("off\n")
            sys.stdout.flush()


def main(backing: Path, mountpoint: Path, store: Path) -> int:
    failures = _Failures()
    logging.getLogger("fuse").addHandler(failures)
    image = DurableImage(backing, store)
    threading.Thread(target=_control, args=(image,), daemon=True).start()
    # no hard_remove: libfuse renames a file unlinked while open to .fuse_hidden* until it is
    # closed, so operations by name (fstat, ftruncate) keep working on it
    mfusepy.FUSE(PowerCutFS(backing, image), str(mountpoint), foreground=True, fsname="powercut")
    if image.powered:
        image.discard()
    else:
        image.write_out()
    return 1 if failures.count else 0


if __name__ == "__main__":
    sys.exit(main(*(Path(arg) for arg in sys.argv[1:4])))

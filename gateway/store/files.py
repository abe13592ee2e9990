"""Files and folders of the gateway's data: private to its user, made durable on request.

Everything under the data dir holds personal data (raw originals, attachments, the
database), so folders are created 0700 and files 0600 whatever the process umask says,
and folders made by an older version are tightened when the gateway opens them.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) and make it 0700."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    restrict(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty unless it exists, and make it 0600 (e.g. a database file before
    SQLite opens it: SQLite gives its WAL and shared-memory files the database file's mode)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    os.close(fd)
    restrict(path, FILE_MODE)
    return path


def restrict(path: Path, mode: int) -> None:
    """Set ``mode`` on an existing file or folder of ours."""
    try:
        if stat.S_IMODE(path.stat().st_mode) != mode:
            os.chmod(path, mode)
    except PermissionError:
        # owned by someone else (e.g. a mount point prepared by an administrator): leave it
        log.warning("cannot restrict %s to mode %o; check its owner and permissions", path, mode)


def fsync_dir(path: Path | str) -> None:
    """Make the entries of a folder durable (a file renamed into it, for one)."""
    # a folder opens read-only like a file on Linux; fsync on that descriptor syncs its entries
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""Where the processes of one host keep their counters (prometheus-client's multiprocess mode)."""

from __future__ import annotations

import os
from pathlib import Path

from gateway.store.files import private_dir

ENV = "PROMETHEUS_MULTIPROC_DIR"


def use(path: Path, clear: bool) -> Path:
    """Count in files under ``path`` (or the directory the environment already names) from now
    on, in this process and the processes it starts. Call before anything counts. ``clear`` (the
    process that starts the others) drops the counts of processes that are gone — an earlier
    run's; a worker started on its own and still running keeps its counts."""
    chosen = Path(os.environ.get(ENV) or path)
    private_dir(chosen)
    if clear:
        for stale in chosen.glob("*.db"):
            if not _alive(stale.stem.rpartition("_")[2]):
                stale.unlink(missing_ok=True)
    os.environ[ENV] = str(chosen)
    return chosen


def _alive(pid: str) -> bool:
    """Whether the process that wrote a file (prometheus-client names them ``<kind>_<pid>.db``) runs."""
    if not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def current() -> Path | None:
    value = os.environ.get(ENV)
    return Path(value) if value else None

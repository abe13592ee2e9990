"""The metrics directory: chosen once per host, emptied of the counts of processes that are gone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.metrics import directory


def test_start_up_drops_the_files_of_ended_processes_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(directory.ENV, "")  # recorded, so the variable is gone again after the test
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                           check=True)
    target = tmp_path / "metrics"
    target.mkdir()
    gone = target / f"counter_{ended.stdout.strip()}.db"
    running = target / f"counter_{os.getppid()}.db"  # the process that started this test run
    for file in (gone, running):
        file.write_bytes(b"x")
    chosen = directory.use(target, clear=True)
    assert chosen == target and os.environ[directory.ENV] == str(target) and directory.current() == target
    assert not gone.exists() and running.exists()
    assert oct(target.stat().st_mode & 0o777) == "0o700"


def test_the_directory_the_environment_names_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(directory.ENV, str(tmp_path / "chosen-by-serve"))
    assert directory.use(tmp_path / "from-settings", clear=False) == tmp_path / "chosen-by-serve"

"""The power-cut filesystem itself (tests/support/powercut): after a cut only what was made
durable is left — file data by an fsync of the file, names by an fsync of their directory."""

from __future__ import annotations

import errno
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.powercut import PowerCutMount, mounted


@pytest.fixture
def fs(tmp_path: Path) -> Iterator[PowerCutMount]:
    with mounted(tmp_path) as mount:
        yield mount


def fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write(path: Path, content: bytes, *, sync: bool, flags: int = 0) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | flags, 0o600)
    try:
        os.write(fd, content)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def durable_file(fs: PowerCutMount, name: str, content: bytes) -> Path:
    path = fs.path / name
    write(path, content, sync=True)
    fsync(fs.path)
    return path


def test_a_write_without_fsync_is_lost_and_the_synced_content_stays(fs: PowerCutMount) -> None:
    kept = durable_file(fs, "kept", b"old")
    write(kept, b"new, never synced", sync=False)
    overwritten = durable_file(fs, "overwritten", b"old")
    write(overwritten, b"new and synced", sync=True)
    assert kept.read_bytes() == b"new, never synced"  # before the cut everyone sees the cache
    fs.cut()
    assert (fs.backing / "kept").read_bytes() == b"old"
    assert (fs.backing / "overwritten").read_bytes() == b"new and synced"


def test_o_direct_is_no_durability(fs: PowerCutMount) -> None:
    path = durable_file(fs, "direct", b"")
    write(path, b"\0" * 4096, sync=False, flags=os.O_DIRECT)
    fs.cut()
    assert (fs.backing / "direct").read_bytes() == b""


def test_o_dsync_writes_are_durable_when_they_return(fs: PowerCutMount) -> None:
    path = durable_file(fs, "log", b"")
    write(path, b"entry", sync=False, flags=os.O_DSYNC)
    fs.cut()
    assert (fs.backing / "log").read_bytes() == b"entry"


def test_a_truncation_is_durable_with_the_fsync_only(fs: PowerCutMount) -> None:
    shrunk, kept = durable_file(fs, "shrunk", b"0123456789"), durable_file(fs, "kept", b"0123456789")
    for path, sync in ((shrunk, True), (kept, False)):
        with path.open("r+b") as handle:
            handle.truncate(4)
            handle.seek(8)
            handle.write(b"xy")  # a hole between: zeros, not the old bytes
            handle.flush()
            if sync:
                os.fsync(handle.fileno())
    fs.cut()
    assert (fs.backing / "shrunk").read_bytes() == b"0123\0\0\0\0xy"
    assert (fs.backing / "kept").read_bytes() == b"0123456789"


def test_a_new_file_needs_its_directory_synced(fs: PowerCutMount) -> None:
    durable_file(fs, "named", b"data")
    write(fs.path / "empty", b"data never synced", sync=False)
    fsync(fs.path)
    write(fs.path / "unnamed", b"synced data, name never synced", sync=True)
    fs.cut()
    assert sorted(os.listdir(fs.backing)) == ["empty", "named"]
    assert (fs.backing / "empty").read_bytes() == b""  # the name is durable, the data was not


def test_a_rename_without_a_directory_fsync_is_undone(fs: PowerCutMount) -> None:
    durable_file(fs, "tmp", b"blob")
    os.replace(fs.path / "tmp", fs.path / "final")
    fs.cut()
    assert sorted(os.listdir(fs.backing)) == ["tmp"]
    assert (fs.backing / "tmp").read_bytes() == b"blob"


def test_a_rename_with_a_directory_fsync_is_kept(fs: PowerCutMount) -> None:
    durable_file(fs, "final", b"old")
    write(fs.path / "tmp", b"new", sync=True)
    os.replace(fs.path / "tmp", fs.path / "final")
    fsync(fs.path)
    fs.cut()
    assert sorted(os.listdir(fs.backing)) == ["final"]
    assert (fs.backing / "final").read_bytes() == b"new"


def test_an_unlink_without_a_directory_fsync_is_undone(fs: PowerCutMount) -> None:
    durable_file(fs, "gone", b"still here")
    os.unlink(fs.path / "gone")
    fs.cut()
    assert (fs.backing / "gone").read_bytes() == b"still here"


def test_a_new_folder_needs_its_parent_synced_and_its_files_need_it_synced(fs: PowerCutMount) -> None:
    for name, sync_parent in (("kept", True), ("lost", False)):
        folder = fs.path / name
        folder.mkdir()
        if sync_parent:
            fsync(fs.path)
        write(folder / "inside", b"data", sync=True)
        fsync(folder)
    (fs.path / "kept" / "unsynced").mkdir()
    write(fs.path / "kept" / "unsynced" / "file", b"data", sync=True)
    fs.cut()
    assert sorted(os.listdir(fs.backing)) == ["kept"]
    assert sorted(os.listdir(fs.backing / "kept")) == ["inside"]
    assert (fs.backing / "kept" / "inside").read_bytes() == b"data"


def test_after_the_cut_the_filesystem_answers_eio(fs: PowerCutMount) -> None:
    fd = os.open(durable_file(fs, "file", b"data"), os.O_WRONLY)
    try:
        fs.power_off()
        with pytest.raises(OSError) as caught:
            os.write(fd, b"x")
        assert caught.value.errno == errno.EIO
    finally:
        os.close(fd)
    fs.cut()
    assert (fs.backing / "file").read_bytes() == b"data"


def test_a_clean_unmount_keeps_everything_and_a_remount_starts_from_it(tmp_path: Path) -> None:
    with mounted(tmp_path) as fs:
        write(fs.path / "unsynced", b"flushed by the clean shutdown", sync=False)
        fs.unmount()
    with mounted(tmp_path) as fs:
        assert (fs.path / "unsynced").read_bytes() == b"flushed by the clean shutdown"
        os.unlink(fs.path / "unsynced")
        fs.cut()  # what was there at mount time counts as durable
    assert (tmp_path / "disk" / "unsynced").read_bytes() == b"flushed by the clean shutdown"


WRITER = """
import os, signal, sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA journal_mode=WAL")
conn.execute("PRAGMA synchronous=" + sys.argv[2])
conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
for i in range(50):
    conn.execute("INSERT INTO t (v) VALUES (?)", (f"row {i}",))
print("committed", flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # no checkpoint, no close: the WAL holds every commit
"""


@pytest.mark.parametrize(("synchronous", "rows_after_cut"), [("FULL", 50), ("NORMAL", 0)])
def test_sqlite_wal_works_on_the_mount_and_full_commits_survive(
        tmp_path: Path, synchronous: str, rows_after_cut: int) -> None:
    with mounted(tmp_path) as fs:
        run = subprocess.run([sys.executable, "-c", WRITER, str(fs.path / "db.sqlite"), synchronous],
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == -signal.SIGKILL and run.stdout == "committed\n", run.stderr
        fs.cut()  # (no look before: closing the last connection would checkpoint and sync the WAL)
    conn = sqlite3.connect(fs.backing / "db.sqlite")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 't'").fetchone()[0]
        rows = conn.execute("SELECT count(*) FROM t").fetchone()[0] if tables else 0
    finally:
        conn.close()
    assert rows == rows_after_cut


def test_an_open_file_works_after_its_name_is_gone(fs: PowerCutMount) -> None:
    """SQLite's temporary files are unlinked as soon as they are open."""
    fd = os.open(fs.path / "temp", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.unlink(fs.path / "temp")
        os.write(fd, b"0123456789")
        os.ftruncate(fd, 4)
        os.fsync(fd)
        assert os.pread(fd, 100, 0) == b"0123"
        assert os.fstat(fd).st_size == 4
        fsync(fs.path)  # the unlink is durable: no name, whatever libfuse calls the open file meanwhile
    finally:
        os.close(fd)
    assert os.listdir(fs.path) == []
    fs.cut()
    assert os.listdir(fs.backing) == []


HOLDER = """
import os, sys, time
fd = os.open(sys.argv[1] + "/file", os.O_WRONLY | os.O_CREAT, 0o600)
os.write(fd, b"synced")
os.fsync(fd)
folder = os.open(sys.argv[1], os.O_RDONLY)
os.fsync(folder)
os.write(fd, b" and more, never synced")
print("ready", flush=True)
time.sleep(60)
"""


def test_a_cut_while_a_program_holds_files_open(fs: PowerCutMount) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(fs.path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "ready\n"
        fs.power_off()
    finally:
        holder.kill()
        holder.wait(10)
        if holder.stdout is not None:
            holder.stdout.close()
    fs.unmount()
    assert (fs.backing / "file").read_bytes() == b"synced"

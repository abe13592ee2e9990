"""The blob store's file writer: direct I/O in aligned chunks, buffered where refused."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from gateway.store import file_writer
from gateway.store.blobs import FilesystemBlobStore
from gateway.store.file_writer import FileWriter


def _opened_flags(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    flags: list[int] = []
    real_open = os.open

    def spy(path: Any, flag: int, *args: Any) -> int:
        flags.append(flag)
        return real_open(path, flag, *args)

    monkeypatch.setattr(os, "open", spy)
    return flags


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 4097, 3 * 8192, 3 * 8192 + 1, 5 * 8192 - 3])
def test_direct_writes_keep_every_byte_whatever_the_length(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           size: int) -> None:
    monkeypatch.setattr(file_writer, "CHUNK", 8192)  # several chunks without megabytes of test data
    writer = FileWriter()
    monkeypatch.setattr(writer._buffer, "block", file_writer.mmap.mmap(-1, 8192))
    flags = _opened_flags(monkeypatch)
    content = os.urandom(size)
    writer.write_new(str(tmp_path / "blob"), content)
    assert (tmp_path / "blob").read_bytes() == content
    assert flags and flags[0] & os.O_DIRECT and writer.direct  # this filesystem takes direct I/O


def test_the_buffer_is_not_left_with_an_earlier_blobs_bytes(tmp_path: Path) -> None:
    writer = FileWriter()
    writer.write_new(str(tmp_path / "a"), b"\xff" * 10_000)
    writer.write_new(str(tmp_path / "b"), b"\x01" * 100)
    assert (tmp_path / "b").read_bytes() == b"\x01" * 100 and (tmp_path / "b").stat().st_size == 100


def test_linux_refusing_the_flag_after_creating_the_file_still_gets_the_blob_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = os.open

    def open_(path: Any, flag: int, *args: Any) -> int:
        if flag & os.O_DIRECT:  # as Linux on tmpfs before 6.6: the file exists, then EINVAL
            os.close(real_open(path, flag & ~os.O_DIRECT, *args))
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(path, flag, *args)

    monkeypatch.setattr(os, "open", open_)
    store = FilesystemBlobStore(tmp_path)
    key = store.put(b"erster Antrag nach dem Start")
    assert store.get(key) == b"erster Antrag nach dem Start"
    assert not list(tmp_path.rglob(".tmp-*"))


def test_memoryviews_of_any_shape_are_written_byte_for_byte(tmp_path: Path) -> None:
    writer = FileWriter()
    wide = memoryview(bytearray(range(256)) * 48).cast("I")  # 4-byte items: 3 072 items, 12 288 bytes
    writer.write_new(str(tmp_path / "wide"), wide)
    assert (tmp_path / "wide").read_bytes() == wide.tobytes()
    strided = memoryview(bytes(range(256)) * 40)[::2]  # not contiguous
    writer.write_new(str(tmp_path / "strided"), strided)
    assert (tmp_path / "strided").read_bytes() == strided.tobytes() and writer.direct


def test_no_descriptor_is_left_open_whatever_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(fd: int, data: Any) -> int:
        raise RuntimeError("not an OSError")

    writer = FileWriter()
    before = len(os.listdir("/proc/self/fd"))
    monkeypatch.setattr(os, "write", broken)
    for i in range(5):
        with pytest.raises(RuntimeError):
            writer.write_new(str(tmp_path / f"b{i}"), b"x" * 5000)
    monkeypatch.undo()
    assert len(os.listdir("/proc/self/fd")) == before


def test_a_forked_child_does_not_write_into_its_parents_buffer(tmp_path: Path) -> None:
    writer = FileWriter()
    writer.write_new(str(tmp_path / "parent"), b"P" * 4096)
    pid = os.fork()
    if pid == 0:  # the child writes through its copy of the buffer, then leaves at once
        try:
            writer.write_new(str(tmp_path / "child"), b"C" * 4096)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert (tmp_path / "child").read_bytes() == b"C" * 4096
    assert writer._buffer.block[:4096] == b"P" * 4096  # a shared mapping would hold the child's bytes


@pytest.mark.parametrize("refused_at", ["open", "write"])
def test_a_filesystem_without_direct_io_gets_buffered_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             refused_at: str) -> None:
    real_open, real_write = os.open, os.write
    direct_fds: set[int] = set()

    def open_(path: Any, flag: int, *args: Any) -> int:
        if flag & os.O_DIRECT and refused_at == "open":
            raise OSError(errno.EINVAL, "Invalid argument")
        fd = real_open(path, flag, *args)
        if flag & os.O_DIRECT:
            direct_fds.add(fd)
        return fd

    def write(fd: int, data: Any) -> int:
        if fd in direct_fds:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_write(fd, data)

    monkeypatch.setattr(os, "open", open_)
    monkeypatch.setattr(os, "write", write)
    writer = FileWriter()
    writer.write_new(str(tmp_path / "one"), b"Gewerbeanmeldung" * 1000)
    assert (tmp_path / "one").read_bytes() == b"Gewerbeanmeldung" * 1000
    assert not writer.direct  # remembered: the next blob does not try again
    writer.write_new(str(tmp_path / "two"), b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "two"]


def test_other_write_errors_reach_the_caller_and_leave_no_blob(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = FilesystemBlobStore(tmp_path)

    def disk_full(fd: int, data: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", disk_full)
    with pytest.raises(OSError, match="No space"):
        store.put(b"Wohngeldantrag" * 1000)
    monkeypatch.undo()
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]  # no blob, no temporary file
    key = store.put(b"Wohngeldantrag" * 1000)  # and the next try works
    assert store.get(key) == b"Wohngeldantrag" * 1000


def test_the_store_can_be_told_to_write_buffered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flags = _opened_flags(monkeypatch)
    store = FilesystemBlobStore(tmp_path, direct_io=False)
    key = store.put(b"Hundesteuer")
    assert store.get(key) == b"Hundesteuer" and not any(f & os.O_DIRECT for f in flags)

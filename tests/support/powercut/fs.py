"""A FUSE filesystem that loses, on a power cut, everything a real disk may lose.

It passes every operation through to a backing directory (so programs see an ordinary
filesystem, SQLite's locks and shared memory included) and keeps, beside it, the *durable image*
(``image.py``): what would still be on the disk if the power went off now. The model is the one
LazyFS (the FUSE filesystem Jepsen uses) applies to file data, extended to directory entries,
and it is deliberately the most pessimistic POSIX allows:

- ``write`` (also through ``mmap``, also with ``O_DIRECT``, which asks for no cache but promises
  no durability) is volatile until an ``fsync`` or ``fdatasync`` of that file; then the file's
  whole current content is durable (the two calls are treated alike). A write on a file opened
  with ``O_SYNC``/``O_DSYNC`` is durable when it returns.
- Creating, renaming, linking or removing a name (``open(O_CREAT)``, ``mkdir``, ``rename``,
  ``link``, ``unlink``, ``rmdir``, ``symlink``) is volatile until an ``fsync`` of the directory
  holding the name; then all of that directory's current entries are durable, and nothing else:
  not the content of the files they name, not the directory's own name in its parent (a new
  directory needs its parent synced too).
- So: a file written and fsync'd but never named in a synced directory is gone after a cut; a
  ``rename(tmp, final)`` without a sync of the folder leaves ``tmp`` (with whatever was synced of
  it) and not ``final``; a name made durable for a file never fsync'd is an empty file; a rename
  between two folders is durable per folder (sync only the target and the file is under both
  names; only the source and it is under neither); an unlink without a folder sync is undone.
- Modes are durable as seen at the last fsync of the file or of its folder. Timestamps, owners,
  extended attributes, ``fallocate`` and special files are not modelled (refused or passed
  through). ``sync()``/``syncfs()`` do not reach a FUSE filesystem and make nothing durable.
- A file unlinked while open keeps working: libfuse renames it to ``.fuse_hidden*`` until it is
  closed (no ``hard_remove``, so operations by name such as ``fstat`` still find it); the image
  never counts such a name as an entry, since on a disk the file has none.
- POSIX and BSD locks are left to the kernel (no lock operations are offered), so they work
  between processes of this machine, as SQLite and the gateway's writer lock need.

What SQLite needs, and gets: with ``journal_mode=WAL`` it fsyncs the WAL at every commit when
``synchronous=FULL`` (only at checkpoints with ``NORMAL``), fsyncs the database file at
checkpoints, and fsyncs the directory once after it created a journal or WAL file (its unix VFS
marks those opens for a directory sync), which also makes the database file's own name durable.
The ``-shm`` index is never synced; SQLite rebuilds it from the WAL after a crash.

A cut (``power_off`` then unmount) freezes the image at once: every later operation fails with
``EIO``. After the unmount the backing directory is replaced by the image. A clean unmount keeps
the backing directory as it is, the way a clean shutdown flushes everything.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import mfusepy  # type: ignore[import-untyped]

from tests.support.powercut.image import DurableImage

_STRIPPED = os.O_DIRECT | os.O_APPEND  # the cache is ours to model; the kernel passes each write's offset
_STAT_KEYS = ("st_mode", "st_nlink", "st_uid", "st_gid", "st_size", "st_blocks", "st_ino")


class PowerCutFS(mfusepy.Operations):  # type: ignore[misc]
    use_ns = True

    def __init__(self, backing: Path, image: DurableImage) -> None:
        self._backing = backing
        self.image = image
        self._inos: dict[int, int] = {}  # open fd -> backing inode number
        self._sync_writes: set[int] = set()

    def _real(self, path: str | None) -> Path:
        if not self.image.powered:
            raise mfusepy.FuseOSError(errno.EIO)
        if path is None:  # cannot happen: without hard_remove libfuse keeps a name for open files
            raise mfusepy.FuseOSError(errno.ESTALE)
        return self._backing / path.lstrip("/")

    def _powered(self) -> None:
        if not self.image.powered:
            raise mfusepy.FuseOSError(errno.EIO)

    # -- names ----------------------------------------------------------------------------------
    def getattr(self, path: str | None, fh: int | None = None) -> dict[str, Any]:
        st = os.fstat(fh) if fh is not None else os.lstat(self._real(path))
        self._powered()
        attrs: dict[str, Any] = {key: getattr(st, key) for key in _STAT_KEYS}
        attrs.update(st_atime=st.st_atime_ns, st_mtime=st.st_mtime_ns, st_ctime=st.st_ctime_ns)
        return attrs

    def readdir(self, path: str, fh: int) -> list[str]:
        return [".", "..", *os.listdir(self._real(path))]

    def readlink(self, path: str) -> str:
        return os.readlink(self._real(path))

    def mkdir(self, path: str, mode: int) -> int:
        real = self._real(path)
        os.mkdir(real, mode)
        self.image.created(os.lstat(real))
        return 0

    def symlink(self, target: str, source: str) -> int:
        real = self._real(target)
        os.symlink(source, real)
        self.image.created(os.lstat(real), source)
        return 0

    def link(self, target: str, source: str) -> int:
        os.link(self._real(source), self._real(target))
        return 0

    def rename(self, old: str, new: str) -> int:
        os.rename(self._real(old), self._real(new))
        return 0

    def unlink(self, path: str) -> int:
        os.unlink(self._real(path))
        return 0

    def rmdir(self, path: str) -> int:
        os.rmdir(self._real(path))
        return 0

    def chmod(self, path: str | None, mode: int) -> int:
        os.chmod(self._real(path), mode)
        return 0

    def chown(self, path: str | None, uid: int, gid: int) -> int:
        os.chown(self._real(path), uid, gid, follow_symlinks=False)
        return 0

    def utimens(self, path: str | None, times: tuple[int, int] | None = None) -> int:
        os.utime(self._real(path), ns=times, follow_symlinks=False) if times else os.utime(self._real(path))
        return 0

    def statfs(self, path: str) -> dict[str, int]:
        st = os.statvfs(self._real(path))
        return {key: getattr(st, key) for key in ("f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail",
                                                  "f_files", "f_ffree", "f_favail", "f_flag", "f_namemax")}

    # -- files ----------------------------------------------------------------------------------
    def create(self, path: str, mode: int, flags: int) -> int:
        real = self._real(path)
        try:
            fd = os.open(real, (flags | os.O_CREAT | os.O_EXCL) & ~_STRIPPED, mode)
        except FileExistsError:
            if flags & os.O_EXCL:
                raise
            return self.open(path, flags & ~os.O_CREAT)
        st = os.fstat(fd)
        self.image.created(st)
        return self._opened(fd, flags, st.st_ino)

    def open(self, path: str, flags: int) -> int:
        fd = os.open(self._real(path), flags & ~_STRIPPED)
        ino = os.fstat(fd).st_ino
        if flags & os.O_TRUNC:
            self.image.truncated(ino, 0)
        return self._opened(fd, flags, ino)

    def _opened(self, fd: int, flags: int, ino: int) -> int:
        self._inos[fd] = ino
        if flags & os.O_DSYNC:  # O_SYNC includes O_DSYNC
            self._sync_writes.add(fd)
        return fd

    def read(self, path: str | None, size: int, offset: int, fh: int) -> bytes:
        self._powered()
        return os.pread(fh, size, offset)

    def write(self, path: str | None, data: bytes, offset: int, fh: int) -> int:
        self._powered()
        written = os.pwrite(fh, data, offset)
        self.image.written(self._inos[fh], offset, written)
        if fh in self._sync_writes:
            self.image.sync_file(fh)
        return written

    def truncate(self, path: str | None, length: int, fh: int | None = None) -> int:
        if fh is not None:
            self._powered()
            os.ftruncate(fh, length)
            ino = self._inos[fh]
        else:
            real = self._real(path)
            os.truncate(real, length)
            ino = os.lstat(real).st_ino
        self.image.truncated(ino, length)
        return 0

    def fsync(self, path: str | None, datasync: int, fh: int) -> int:
        self.image.sync_file(fh)
        return 0

    def flush(self, path: str | None, fh: int) -> int:
        return 0  # close() promises nothing about durability

    def release(self, path: str | None, fh: int) -> int:
        self._inos.pop(fh, None)
        self._sync_writes.discard(fh)
        os.close(fh)
        return 0

    # -- directories ------------------------------------------------------------------------------
    def opendir(self, path: str) -> int:
        self._real(path)
        return 0

    def releasedir(self, path: str | None, fh: int) -> int:
        return 0

    def fsyncdir(self, path: str | None, datasync: int, fh: int) -> int:
        if path is None:
            return 0  # a removed directory: its entries can no longer matter
        self.image.sync_dir(self._real(path))
        return 0

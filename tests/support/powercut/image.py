"""The durable image: what the disk under a mounted power-cut filesystem would still hold if
the power went off now. ``fs.py`` says which operations make what durable; this module keeps the
book and, after a cut, writes the image out.

Inodes, not paths: every object of the live (backing) tree gets an id of its own when it is
created (the backing filesystem's inode number may be reused after an unlink; the id never is).
The image holds, per id:

- a directory's durable entries (name -> id), replaced by the live entries at each fsync of
  that directory;
- a regular file's durable content, one file per id in the store folder, brought up to the live
  content at each fsync/fdatasync of that file (only the blocks written since, plus truncation);
- the kind, the mode and a symbolic link's target.

Nothing else is durable. A name whose directory was never synced does not exist after the cut,
however often its file was synced; a synced name whose file never was is an empty file.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

BLOCK = 64 * 1024  # granularity of the dirty bookkeeping; the copy at fsync reads whole blocks
# libfuse's name for a file unlinked while still open; on a disk such a file has no name at all
HIDDEN = ".fuse_hidden"


class PoweredOff(OSError):
    """The power is off: the filesystem answers nothing any more (EIO)."""

    def __init__(self) -> None:
        super().__init__(5, "power cut: the filesystem is gone")


@dataclass
class Node:
    kind: str  # "dir" | "file" | "symlink"
    mode: int  # permission bits
    target: str = ""  # a symbolic link's content


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISREG(mode):
        return "file"
    raise OSError(95, "only directories, regular files and symbolic links are modelled")  # EOPNOTSUPP


class DurableImage:
    def __init__(self, backing: Path, store: Path) -> None:
        self._backing = backing
        self._store = store
        self._lock = threading.Lock()
        self._next_id = itertools.count(1)
        self._ids: dict[int, int] = {}  # backing inode number -> id
        self._nodes: dict[int, Node] = {}
        self._entries: dict[int, dict[str, int]] = {}  # durable directory entries
        self._dirty: dict[int, set[int]] = {}  # blocks written since the file's last sync
        self._shrunk: dict[int, int] = {}  # smallest length truncated to since the last sync
        self.powered = True
        shutil.rmtree(store, ignore_errors=True)
        store.mkdir(parents=True)
        self._root = self._adopt(backing)

    # -- what the filesystem reports --------------------------------------------------------
    def created(self, st: os.stat_result, target: str = "") -> None:
        """A new object (create, mkdir, symlink): a fresh id, whatever its inode number was."""
        with self._lock:
            self._check_power()
            self._new_id(st, target)

    def written(self, ino: int, offset: int, length: int) -> None:
        """Called after the bytes reached the backing file (never before: an fsync in between
        would clear the mark and the write would never be copied)."""
        if length <= 0:
            return
        with self._lock:
            self._check_power()
            blocks = self._dirty.setdefault(self._id_of(ino), set())
            blocks.update(range(offset // BLOCK, (offset + length - 1) // BLOCK + 1))

    def truncated(self, ino: int, length: int) -> None:
        with self._lock:
            self._check_power()
            node_id = self._id_of(ino)
            self._shrunk[node_id] = min(length, self._shrunk.get(node_id, length))

    def sync_file(self, fd: int) -> None:
        """fsync/fdatasync of an open file: its durable content becomes its live content."""
        with self._lock:
            self._check_power()
            st = os.fstat(fd)
            node_id = self._id_of(st.st_ino, st)
            self._nodes[node_id].mode = stat.S_IMODE(st.st_mode)
            # the fd may be write-only: read through a fresh read-only open of the same inode
            live = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY)
            durable = os.open(self._store / str(node_id), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                if node_id in self._shrunk:
                    os.ftruncate(durable, self._shrunk.pop(node_id))
                for block in sorted(self._dirty.pop(node_id, ())):
                    data = os.pread(live, BLOCK, block * BLOCK)
                    if data:
                        os.pwrite(durable, data, block * BLOCK)
                os.ftruncate(durable, os.fstat(live).st_size)
            finally:
                os.close(durable)
                os.close(live)

    def sync_dir(self, path: Path) -> None:
        """fsync of a directory: its durable entries become its live entries (the entries only:
        neither the files' content nor the directory's own name in its parent)."""
        with self._lock:
            self._check_power()
            st = os.lstat(path)
            dir_id = self._id_of(st.st_ino, st)
            self._nodes[dir_id].mode = stat.S_IMODE(st.st_mode)
            entries: dict[str, int] = {}
            with os.scandir(path) as listing:
                for entry in listing:
                    if entry.name.startswith(HIDDEN):
                        continue
                    child = entry.stat(follow_symlinks=False)
                    entries[entry.name] = self._id_of(child.st_ino, child, entry.path)
            self._entries[dir_id] = entries

    # -- the cut ------------------------------------------------------------------------------
    def power_off(self) -> None:
        """From now on the image is frozen and every report fails with EIO."""
        with self._lock:
            self.powered = False

    def write_out(self) -> None:
        """Replace the backing tree by the durable image (after the filesystem is unmounted)."""
        staging = self._backing.with_name(self._backing.name + ".after-cut")
        shutil.rmtree(staging, ignore_errors=True)
        self._build(self._root, staging, set(), {})
        shutil.rmtree(self._backing)
        staging.rename(self._backing)
        shutil.rmtree(self._store)

    def discard(self) -> None:
        """A clean unmount: everything was flushed, the backing tree is what stays."""
        shutil.rmtree(self._store, ignore_errors=True)

    # -- internals ------------------------------------------------------------------------------
    def _check_power(self) -> None:
        if not self.powered:
            raise PoweredOff

    def _new_id(self, st: os.stat_result, target: str = "") -> int:
        node_id = next(self._next_id)
        self._ids[st.st_ino] = node_id
        self._nodes[node_id] = Node(_kind(st.st_mode), stat.S_IMODE(st.st_mode), target)
        return node_id

    def _id_of(self, ino: int, st: os.stat_result | None = None, path: str = "") -> int:
        node_id = self._ids.get(ino)
        if node_id is None:  # not created through the mount (cannot happen while it is the only writer)
            if st is None:
                raise OSError(5, f"inode {ino} is unknown to the power-cut filesystem")
            node_id = self._new_id(st, os.readlink(path) if path and stat.S_ISLNK(st.st_mode) else "")
        return node_id

    def _adopt(self, path: Path) -> int:
        """Whatever the backing tree holds at mount time is durable."""
        st = os.lstat(path)
        node_id = self._new_id(st, os.readlink(path) if stat.S_ISLNK(st.st_mode) else "")
        kind = self._nodes[node_id].kind
        if kind == "dir":
            self._entries[node_id] = {child.name: self._adopt(path / child.name) for child in os.scandir(path)}
        elif kind == "file":
            shutil.copyfile(path, self._store / str(node_id))
        return node_id

    def _build(self, dir_id: int, path: Path, dirs_done: set[int], files_done: dict[int, Path]) -> None:
        """Write one durable directory. A directory reachable under two names (moved between two
        directories that were both synced, at different times) is written once, under the name
        met first, as a filesystem check would leave it; a file under two names is hard-linked."""
        dirs_done.add(dir_id)
        path.mkdir()
        for name, child_id in sorted(self._entries.get(dir_id, {}).items()):
            node, child = self._nodes[child_id], path / name
            if node.kind == "dir":
                if child_id not in dirs_done:
                    self._build(child_id, child, dirs_done, files_done)
            elif node.kind == "symlink":
                os.symlink(node.target, child)
            elif child_id in files_done:
                os.link(files_done[child_id], child)
            else:
                content = self._store / str(child_id)
                if content.exists():
                    shutil.copyfile(content, child)
                else:
                    child.touch()  # the name is durable, the data never was
                os.chmod(child, node.mode)
                files_done[child_id] = child
        with contextlib.suppress(KeyError):
            os.chmod(path, self._nodes[dir_id].mode)

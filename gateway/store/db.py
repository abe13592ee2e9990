"""Engine set-up for both profiles and a small unit of work.

Durability (the ``durability`` setting, see :mod:`gateway.config`):

* ``full`` (the default): SQLite runs in WAL mode with ``synchronous=FULL`` — the WAL is
  fsync'd at every commit, so a committed transaction survives a power cut. PostgreSQL keeps
  the server's own setting (``synchronous_commit`` on unless its administrator relaxed it).
* ``process``: SQLite with ``synchronous=NORMAL`` and PostgreSQL sessions with
  ``synchronous_commit=off`` — a commit survives the death of the gateway's (or the database
  server's) process, not a power cut or an operating-system crash.

The SQLite file (and so its WAL and shared-memory files, which SQLite creates with the
database file's mode) is private to the gateway's user: 0600 in a 0700 folder.
Writers begin with ``BEGIN IMMEDIATE`` so two writers never deadlock on a lock upgrade, and
they queue for the write lock in the gateway itself (a thread lock, plus a file lock next to
the database for other processes) instead of in SQLite's busy handler, which sleeps and
retries and lets newcomers overtake: queueing keeps latency flat under load.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection, Engine, create_engine, event, text

from gateway.store.files import DIR_MODE, FILE_MODE, private_file, restrict

Durability = Literal["full", "process"]


class UnitOfWork:
    """One transaction plus actions to run only once it has committed."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._after_commit: list[Callable[[], None]] = []

    def after_commit(self, action: Callable[[], None]) -> None:
        self._after_commit.append(action)

    def _run_after_commit(self) -> None:
        for action in self._after_commit:
            action()


class _WriterLock:
    """One SQLite writer at a time: across threads (a lock) and processes (flock)."""

    def __init__(self, lock_file: Path | None) -> None:
        self._thread_lock = threading.RLock()  # re-entrant: a nested transaction must not deadlock
        self._lock_file = lock_file
        self._fd: int | None = None
        self._depth = 0

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._thread_lock:
            self._depth += 1
            try:
                if self._lock_file is not None and self._depth == 1:
                    if self._fd is None:
                        self._fd = os.open(self._lock_file, os.O_RDWR | os.O_CREAT, 0o600)
                    fcntl.flock(self._fd, fcntl.LOCK_EX)
                    try:
                        yield
                    finally:
                        fcntl.flock(self._fd, fcntl.LOCK_UN)
                else:
                    yield
            finally:
                self._depth -= 1


def sqlite_file(url: str) -> Path | None:
    """The database file a SQLite URL names (None for an in-memory database or another dialect)."""
    if not url.startswith("sqlite") or "///" not in url:
        return None
    database = url.split("///", 1)[1].split("?", 1)[0]
    return Path(database) if database and database != ":memory:" else None


def prepare_sqlite_file(url: str) -> None:
    """Create a SQLite database file 0600 before SQLite opens it; a missing folder is made 0700
    (an existing one is the data dir, tightened by the composition root, or the operator's choice)."""
    path = sqlite_file(url)
    if path is not None:
        path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        private_file(path)
        for companion in (Path(f"{path}-wal"), Path(f"{path}-shm")):  # left by an older version
            if companion.exists():
                restrict(companion, FILE_MODE)


class Database:
    def __init__(self, url: str, durability: Durability = "full", pool_size: int = 10) -> None:
        self.url = url
        self.durability = durability
        self.is_sqlite = url.startswith("sqlite")
        self.dialect = "sqlite" if self.is_sqlite else "postgresql"
        self._writer: _WriterLock | None = None
        if self.is_sqlite:
            prepare_sqlite_file(url)
            database = sqlite_file(url)
            self._writer = _WriterLock(Path(f"{database}.writer-lock") if database else None)
            self.engine: Engine = create_engine(
                url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=pool_size
            )
            self._configure_sqlite(durability)
        else:
            self.engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
            if durability == "process":
                self._relax_postgresql()

    def _relax_postgresql(self) -> None:
        @event.listens_for(self.engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # the session's own setting: other clients of the server keep theirs
            with dbapi_conn.cursor() as cursor:
                cursor.execute("SET synchronous_commit TO off")
            dbapi_conn.commit()

    def _configure_sqlite(self, durability: Durability) -> None:
        synchronous = "FULL" if durability == "full" else "NORMAL"

        @event.listens_for(self.engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(self.engine, "begin")
        def _on_begin(conn: Connection) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
            conn.exec_driver_sql(f"BEGIN {mode}")

    @contextmanager
    def transaction(self) -> Iterator[UnitOfWork]:
        with self._write_slot(), self.engine.connect() as conn:
            uow = UnitOfWork(conn)
            with conn.begin():
                yield uow
        uow._run_after_commit()

    @contextmanager
    def _write_slot(self) -> Iterator[None]:
        if self._writer is None:
            yield
        else:
            with self._writer.held():
                yield

    @contextmanager
    def single_statements(self) -> Iterator[Connection]:
        """A connection whose every statement is a transaction of its own, committed (durably)
        by the server as the statement ends: a row lock it takes is never held while this
        process gets round to its next step. SQLite has one writer anyway: there it is an
        ordinary transaction."""
        if self.is_sqlite:
            with self.transaction() as uow:
                yield uow.conn
            return
        with self.engine.connect() as conn:
            yield conn.execution_options(isolation_level="AUTOCOMMIT")

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            if self.is_sqlite:
                conn = conn.execution_options(sqlite_begin="DEFERRED")
            with conn.begin():
                yield conn

    def ping(self) -> None:
        with self.reading() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()

"""What the ``durability`` setting does to the stores, and who may read the data files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sqlalchemy import text

from gateway.bootstrap import Gateway
from gateway.config import Settings
from tests.conftest import make_settings
from tests.integration.conftest import portal_message


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _pragma_synchronous(gw: Gateway) -> int:
    with gw.db.reading() as conn:
        return int(conn.execute(text("PRAGMA synchronous")).scalar_one())


def test_full_is_the_default_and_syncs_sqlite_at_every_commit(tmp_path: Path) -> None:
    assert Settings().durability == "full"
    gw = Gateway.create(make_settings(tmp_path))
    try:
        assert _pragma_synchronous(gw) == 2  # FULL
    finally:
        gw.close()


def test_process_durability_is_only_what_it_says(tmp_path: Path) -> None:
    gw = Gateway.create(make_settings(tmp_path, durability="process"))
    try:
        assert _pragma_synchronous(gw) == 1  # NORMAL: WAL survives the process, not the power
    finally:
        gw.close()


def test_postgresql_is_never_relaxed_unless_asked(tmp_path: Path, pg_url: str, redis_url: str) -> None:
    def synchronous_commit(durability: str) -> str:
        gw = Gateway.create(make_settings(tmp_path / durability, profile="scaleout", database_url=pg_url,
                                          redis_url=redis_url, durability=durability))
        try:
            with gw.db.reading() as conn:
                return str(conn.execute(text("SHOW synchronous_commit")).scalar_one())
        finally:
            gw.close()

    assert synchronous_commit("full") == "on"
    assert synchronous_commit("process") == "off"


def test_data_files_are_0600_and_folders_0700(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        data = tmp_path / "data"
        gw = Gateway.create(make_settings(data))
        try:
            outcome = gw.pipeline.intake(portal_message("perm-1"))
            assert outcome.case is not None
            files = [data / "gateway.db", data / "gateway.db-wal", data / "gateway.db-shm",
                     data / "gateway.db.writer-lock"]
            assert all(f.exists() for f in files)
            assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}
            blobs = data / "blobs"
            assert _mode(data) == 0o700 and _mode(blobs) == 0o700
            assert {_mode(p) for p in blobs.iterdir()} == {0o700}
            stored = [p for p in blobs.rglob("*") if p.is_file()]
            assert stored and {_mode(p) for p in stored} == {0o600}
        finally:
            gw.close()
    finally:
        os.umask(old)


def test_data_left_readable_by_an_older_version_is_tightened(tmp_path: Path) -> None:
    data = tmp_path / "data"
    Gateway.create(make_settings(data)).close()
    loose = [data, data / "blobs", data / "blobs" / "00", data / "gateway.db", data / "gateway.db-wal",
             data / "gateway.db-shm"]
    for path in loose:
        if not path.exists():
            path.touch()
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    Gateway.create(make_settings(data)).close()
    # the gateway reads its data keys at start-up: SQLite may remove an empty WAL when it closes
    left = [p for p in loose if p.exists()]
    assert {data, data / "gateway.db"} <= set(left)
    assert {p.name: _mode(p) for p in left} == {p.name: 0o700 if p.is_dir() else 0o600 for p in left}

"""The Alembic migrations produce exactly the schema the code uses, on both databases."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from gateway.migrations import alembic_config, upgrade
from gateway.store.tables import metadata

HEAD = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def _differences(url: str) -> list[object]:
    upgrade(url)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    return list(diff)


def test_sqlite_schema_matches_the_tables(tmp_path: Path) -> None:
    assert _differences(f"sqlite:///{tmp_path / 'm.db'}") == []


def test_postgresql_schema_matches_the_tables(pg_url: str) -> None:
    assert _differences(pg_url) == []


def test_upgrade_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    upgrade(url)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("select version_num from alembic_version")).scalar_one() == HEAD
    engine.dispose()


def test_concurrent_upgrades_on_postgresql_take_turns(pg_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda _: upgrade(pg_url), range(3)))
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("select version_num from alembic_version")).scalar_one() == HEAD
    engine.dispose()

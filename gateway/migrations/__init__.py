"""Alembic migrations: one schema for SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from gateway.store.db import prepare_sqlite_file

HERE = Path(__file__).resolve().parent


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


MIGRATION_LOCK = 7_401_285_163  # any fixed number: PostgreSQL advisory locks are keyed by integers


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate; several processes starting at once on PostgreSQL take turns (advisory lock)."""
    if not url.startswith("postgresql"):
        prepare_sqlite_file(url)  # 0600 before SQLite (through Alembic) creates it
        command.upgrade(alembic_config(url), revision)
        return
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            try:
                command.upgrade(alembic_config(url), revision)
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
    finally:
        engine.dispose()

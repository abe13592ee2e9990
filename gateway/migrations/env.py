"""Alembic environment: runs migrations on the URL handed over by gateway.migrations."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from gateway.store.tables import metadata

config = context.config
url = config.get_main_option("sqlalchemy.url")
assert url is not None
engine = create_engine(url)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=url.startswith("sqlite"))
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()

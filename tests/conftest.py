"""Shared fixtures: settings on a temporary data dir, a gateway, tokens, and the real
PostgreSQL / Redis services for scale-out tests (skipped locally without them, an error in CI)."""

from __future__ import annotations

import functools
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from gateway.client_secrets import hash_secret
from gateway.config import ClientConfig, Settings

REPO = Path(__file__).resolve().parents[1]
TESTDATA = REPO / "tests" / "testdata"
TENANT = "150905350535"
PG_URL = os.environ.get("RG_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("RG_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

OTHER_TENANT = "150855500000"
SECRETS = {"portal": "portal-secret", "fach": "fach-secret", "admin": "admin-secret", "other": "other-secret",
           "reader": "reader-secret", "hub": "hub-secret"}


@functools.cache
def secret_hash(secret: str) -> str:
    """argon2id costs ~20 ms: each test secret is hashed once per test run."""
    return hash_secret(secret)


def client_configs() -> list[ClientConfig]:
    def cfg(cid: str, scopes: list[Any], tenants: list[str] | None) -> ClientConfig:
        return ClientConfig(client_id=cid, secret_hash=secret_hash(SECRETS[cid]), scopes=scopes, tenants=tenants)

    return [cfg("portal", ["applications:submit"], [TENANT]), cfg("fach", ["cases:read", "cases:write"], [TENANT]),
            cfg("admin", ["admin"], [TENANT, OTHER_TENANT]),
            cfg("other", ["applications:submit", "cases:read"], [OTHER_TENANT]),
            cfg("reader", ["cases:read", "cases:write"], None),  # local processing for every municipality
            cfg("hub", ["applications:submit"], None)]  # a portal submitting for every municipality


# the test suite's master key (personal data at rest is encrypted in every test that builds a gateway)
TEST_MASTER_KEY = {"id": "test-suite", "key": "ZdynmPoMcFRgHANWGsx01J4oIAqFM8kh87ILOFrWCgg="}
AT_REST_ENV = json.dumps({"master_keys": [TEST_MASTER_KEY]})


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "at_rest": {"master_keys": [TEST_MASTER_KEY]},
        "data_dir": data_dir, "mappings_dir": TESTDATA / "mappings", "fixtures_dir": TESTDATA / "fixtures",
        "token_signing_key": "test-signing-key-0123456789abcdef0123456789", "clients": client_configs(),
        "backoff_base_seconds": 0.01, "backoff_max_seconds": 0.05, "job_lease_seconds": 2.0,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(autouse=True)
def _no_config_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RG_CONFIG_FILE", raising=False)
    # settings read from the environment (the CLI, processes started with it) encrypt as well
    monkeypatch.setenv("RG_AT_REST", AT_REST_ENV)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


def _service_missing(reason: str) -> NoReturn:
    """Without the service the scale-out tests fail, with the reason and what to do — never a
    silent skip: a green run must mean they ran against the real PostgreSQL and Redis."""
    pytest.fail(f"{reason}; the scale-out tests need PostgreSQL on 127.0.0.1:5432 (database 'test', "
                "trust auth) and Redis on 127.0.0.1:6379 — start them, then run the tests again")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL schema per test (search_path), dropped afterwards."""
    import sqlalchemy as sa

    try:
        admin = sa.create_engine(PG_URL)
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:
        _service_missing(f"PostgreSQL at {PG_URL} is not reachable ({type(exc).__name__})")
    schema = f"rg_test_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def redis_url() -> Iterator[str]:
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL)
        client.ping()
    except Exception as exc:
        _service_missing(f"Redis at {REDIS_URL} is not reachable ({type(exc).__name__})")
    yield REDIS_URL
    client.flushdb()
    client.close()

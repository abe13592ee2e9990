"""Scale-out: the SAML endpoints' counters live in Redis, shared by every gateway process — two
gateways (each with its own adapter, throttle and Redis client) on one PostgreSQL and one Redis:
failures seen by one lock the address out at the other. The counters' keys name nothing but the
address."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from adapters.citizen_login.sandbox.idp import SandboxIdp
from adapters.citizen_login.testing import IDP_ENTITY_ID, TENANT, certificate, idp_options, key_pair, login_options
from gateway.api.app import create_app
from gateway.bootstrap import Gateway
from tests.conftest import make_settings

ACS = f"/v1/citizen/saml/{TENANT}/sandbox/acs"
FORGED = {"SAMLResponse": "PHg+PC94Pg==", "RelayState": "a-relay-state-no-login-has"}


@pytest.fixture
def two_gateways(tmp_path: Path, pg_url: str, redis_url: str) -> Iterator[tuple[TestClient, TestClient, str]]:
    idp = SandboxIdp(base_url="https://idp.sandbox.test", entity_id=IDP_ENTITY_ID,
                     signing=key_pair("idp-sandbox-signing-2026"), published=(certificate("idp-sandbox-signing-2026"),),
                     sp_metadata_urls=[])
    metadata = tmp_path / "idp-metadata.xml"
    metadata.write_bytes(idp.metadata())
    login = login_options("https://gateway.tangerhuette.test", ["https://portal.tangerhuette.test"],
                          [idp_options(metadata_file=metadata)],
                          rate_limits={"max_failures": 3, "lockout_seconds": 120})
    queue = f"rgtest-{uuid.uuid4().hex[:8]}"
    settings = make_settings(tmp_path, profile="scaleout", database_url=pg_url, redis_url=redis_url,
                             queue_name=queue, adapters={"citizen_login": login}, demo=True)
    first, second = Gateway.create(settings), Gateway.create(settings)
    try:
        yield TestClient(create_app(first)), TestClient(create_app(second)), f"{queue}:citizen-login-limits:"
    finally:
        first.close()
        second.close()


def test_failures_at_one_process_lock_the_address_out_at_the_other(
        two_gateways: tuple[TestClient, TestClient, str], redis_url: str) -> None:
    first, second, prefix = two_gateways
    for client in (first, second, first):
        refused = client.post(ACS, data=FORGED)
        assert refused.status_code == 403 and refused.json()["check"] == "in-response-to"
    for client in (second, first):
        locked = client.post(ACS, data=FORGED)
        assert locked.status_code == 429, locked.text
        assert 0 < int(locked.headers["retry-after"]) <= 120
    store = redis.Redis.from_url(redis_url)
    try:
        keys = {key.decode() for key in store.scan_iter(match=prefix + "*")}
    finally:
        store.close()
    # the test client's address is "testclient"; nothing of the messages (RelayState, IDs) is a key
    assert keys == {prefix + "w:req:addr:testclient", prefix + "w:fail:addr:testclient", prefix + "l:addr:testclient"}

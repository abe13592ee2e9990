"""Shared helpers for the portal channel and HTTP API end-to-end tests: a gateway served on a
real loopback port, an HTTP client with a per-client token cache, and small store queries."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from gateway.api.app import create_app
from gateway.bootstrap import Gateway
from gateway.case.model import TrustLevel
from gateway.errors import PROBLEM_BASE
from gateway.identity import LoginIdentity
from gateway.sessions import SessionService
from gateway.store import tables
from tests.conftest import SECRETS, TENANT, make_settings
from tests.support.servers import serve_app

OTHER_TENANT = "150855500000"
HUND = "99108008001000"
GEWERBE = "99050012104000"
PROBLEM_JSON = "application/problem+json"


def problem_type(slug: str) -> str:
    return PROBLEM_BASE + slug


def new_key() -> str:
    """A fresh Idempotency-Key (the header needs 8-255 characters of [A-Za-z0-9._:-])."""
    return f"k-{uuid.uuid4().hex}"


def sha512(content: bytes) -> str:
    return hashlib.sha512(content).hexdigest()


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def hund_envelope(**overrides: Any) -> dict[str, Any]:
    """A valid application for portal.test-hund at the test tenant."""
    envelope: dict[str, Any] = {
        "tenant": TENANT, "service": HUND, "form": "test-hund", "submitted_at": now_iso(),
        "data": {"halter": {"vorname": "Erika", "nachname": "Mustermann", "geburtsdatum": "1980-02-29"},
                 "hund": {"name": "Bello", "wurfdatum": "2024-05-01", "gefaehrlich": False}},
    }
    envelope.update(overrides)
    return envelope


def gewerbe_envelope(**overrides: Any) -> dict[str, Any]:
    """An application for portal.test-gewerbe (needs trust level substantiell)."""
    envelope: dict[str, Any] = {
        "tenant": TENANT, "service": GEWERBE, "form": "test-gewerbe", "submitted_at": now_iso(),
        "data": {"betrieb": {"name": "Muster Holz GmbH"}, "taetigkeit": "Tischlerei"},
    }
    envelope.update(overrides)
    return envelope


def attachment_ref(att_id: str, content: bytes, filename: str = "nachweis.pdf",
                   media_type: str = "application/pdf", **extra: Any) -> dict[str, Any]:
    return {"id": att_id, "filename": filename, "media_type": media_type, "sha512": sha512(content), **extra}


@dataclass
class Api:
    """An HTTP client for one served gateway; tokens are fetched once per client id."""

    gw: Gateway
    base: str
    http: httpx.Client
    _tokens: dict[str, str] = field(default_factory=dict)

    def token(self, client_id: str) -> str:
        if client_id not in self._tokens:
            response = self.http.post("/oauth/token", data={
                "grant_type": "client_credentials", "client_id": client_id, "client_secret": SECRETS[client_id]})
            assert response.status_code == 200, response.text
            self._tokens[client_id] = response.json()["access_token"]
        return self._tokens[client_id]

    def auth(self, client_id: str, **headers: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(client_id)}", **headers}

    def citizen_session(self, level: str, pseudonym: str = "bpk2-pseudonym-4711", tenant: str = TENANT) -> str:
        """A session token as a citizen login issues it (a test login service registered in
        this gateway, as the citizen_login adapter registers its own)."""
        if "test-login" not in self.gw.adapters.sessions:
            self.gw.adapters.sessions.register("test-login", SessionService(
                "test-login", b"test-only-session-key-0123456789abcdef", self.gw.state))
        return self.gw.adapters.sessions.get("test-login").issue(LoginIdentity(
            provider="bundid", tenant_ars=tenant, pseudonym=pseudonym, trust_level=TrustLevel(level),
            authn_context={"niedrig": "STORK-QAA-Level-1", "substantiell": "STORK-QAA-Level-3"}.get(
                level, "STORK-QAA-Level-4"), proved_by="eID"))

    def submit(self, envelope: dict[str, Any], *, key: str | None = None, client: str = "portal",
               session: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = self.auth(client)
        if key is not None:
            headers["Idempotency-Key"] = key
        if session is not None:
            headers["Citizen-Session"] = session
        return self.http.post("/v1/applications", json=envelope, headers=headers, **kwargs)

    def create_case(self, envelope: dict[str, Any] | None = None, client: str = "portal",
                    session: str | None = None) -> dict[str, Any]:
        response = self.submit(envelope or hund_envelope(), key=new_key(), client=client, session=session)
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def get(self, path: str, client: str = "fach", **kwargs: Any) -> httpx.Response:
        return self.http.get(path, headers=self.auth(client), **kwargs)

    def case(self, case_id: str, client: str = "fach") -> dict[str, Any]:
        response = self.get(f"/v1/cases/{case_id}", client)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    # -- direct looks into the store (what the API cannot show) --------------------------
    def case_count(self) -> int:
        with self.gw.db.reading() as conn:
            return int(conn.execute(select(func.count()).select_from(tables.cases)).scalar_one())

    def inbox_count(self) -> int:
        with self.gw.db.reading() as conn:
            return int(conn.execute(select(func.count()).select_from(tables.inbox)).scalar_one())

    def inbox_row(self, inbox_id: str) -> dict[str, Any]:
        with self.gw.db.reading() as conn:
            row = conn.execute(select(tables.inbox).where(tables.inbox.c.id == inbox_id)).mappings().one()
        return dict(row)

    def audit_rows(self, **where: str) -> list[dict[str, Any]]:
        query = select(tables.audit).order_by(tables.audit.c.seq)
        for column, value in where.items():
            query = query.where(tables.audit.c[column] == value)
        with self.gw.db.reading() as conn:
            return [dict(r) for r in conn.execute(query).mappings().all()]


@contextmanager
def running_gateway(data_dir: Path, **overrides: Any) -> Iterator[Api]:
    """Gateway.create(make_settings(...)) served over real HTTP on a loopback port."""
    previous = os.environ.pop("RG_CONFIG_FILE", None)
    try:
        gw = Gateway.create(make_settings(data_dir, **overrides))
    finally:
        if previous is not None:
            os.environ["RG_CONFIG_FILE"] = previous
    try:
        with serve_app(create_app(gw)) as base, httpx.Client(base_url=base, timeout=15) as http:
            yield Api(gw=gw, base=base, http=http)
    finally:
        gw.close()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One running gateway per test module (tests use fresh Idempotency-Keys)."""
    with running_gateway(tmp_path_factory.mktemp("gateway")) as running:
        yield running


@pytest.fixture
def fresh_api(tmp_path: Path) -> Iterator[Api]:
    """A gateway of its own, for tests that need an empty store."""
    with running_gateway(tmp_path / "gateway") as running:
        yield running

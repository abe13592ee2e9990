"""Attachment bytes: stored only after authentication and the tenant check, within a quota per
client, released when an application uses them (and otherwise they expire)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.conftest import OTHER_TENANT
from tests.e2e.conftest import (
    PROBLEM_JSON,
    Api,
    attachment_ref,
    hund_envelope,
    new_key,
    problem_type,
    running_gateway,
    sha512,
)


def _multipart(api: Api, envelope: dict[str, object], content: bytes, client: str = "portal") -> httpx.Response:
    return api.http.post("/v1/applications", headers=api.auth(client, **{"Idempotency-Key": new_key()}), files=[
        ("application", ("application.json", json.dumps(envelope).encode(), "application/json")),
        ("scan", ("scan.pdf", content, "application/pdf"))])


def _stored(api: Api, content: bytes) -> bool:
    return api.gw.blobs.exists("sha512/" + sha512(content))


def test_multipart_attachments_for_a_foreign_tenant_are_never_stored(api: Api) -> None:
    content = b"%PDF-1.7 attachment for a municipality this client does not serve"
    envelope = hund_envelope(tenant=OTHER_TENANT, attachments=[attachment_ref("scan", content)])
    response = _multipart(api, envelope, content)
    assert response.status_code == 403
    assert not _stored(api, content)
    assert api.gw.state.get("portal.uploads", f"portal:{sha512(content)}") is None


def test_unauthenticated_multipart_stores_nothing(api: Api) -> None:
    content = b"%PDF-1.7 attachment without a token"
    envelope = hund_envelope(attachments=[attachment_ref("scan", content)])
    response = api.http.post("/v1/applications", files=[
        ("application", ("application.json", json.dumps(envelope).encode(), "application/json")),
        ("scan", ("scan.pdf", content, "application/pdf"))])
    assert response.status_code == 401
    assert not _stored(api, content)


def test_upload_quota_per_client_by_count_and_bytes(tmp_path: Path) -> None:
    with running_gateway(tmp_path, adapters={"portal": {"upload_quota_count": 2, "upload_quota_bytes": 4096}}) as api:
        def upload(content: bytes, client: str = "portal") -> httpx.Response:
            return api.http.post("/v1/uploads", content=content, headers=api.auth(client))

        first, second = b"%PDF first" + b"1" * 100, b"%PDF second" + b"2" * 100
        assert upload(first).status_code == 201
        assert upload(second).status_code == 201
        assert upload(first).status_code == 201  # the same bytes again: no new slot
        third = upload(b"%PDF third")
        assert third.status_code == 429
        assert third.headers["content-type"] == PROBLEM_JSON
        assert third.json()["type"] == problem_type("too-many-requests")
        assert int(third.headers["retry-after"]) > 0
        assert not _stored(api, b"%PDF third")
        assert upload(b"%PDF other client", client="other").status_code == 201
        # an application that uses an upload frees its slot
        created = api.submit(hund_envelope(attachments=[attachment_ref("a1", first)]), key=new_key())
        assert created.status_code == 201, created.text
        assert upload(b"%PDF third").status_code == 201
        # bytes: 4096 at most pending
        assert upload(b"x" * 5000).status_code == 429


def test_uploads_expire(tmp_path: Path) -> None:
    with running_gateway(tmp_path, adapters={"portal": {"upload_ttl_seconds": 60}}) as api:
        content = b"%PDF expiring upload"
        assert api.http.post("/v1/uploads", content=content, headers=api.auth("portal")).status_code == 201
        entry = api.gw.state.scan("portal.uploads", "portal:")
        assert [v["blob"] for _, v in entry] == ["sha512/" + sha512(content)]
        from sqlalchemy import select

        from gateway.store import tables

        with api.gw.db.reading() as conn:
            expires, updated = conn.execute(select(tables.adapter_state.c.expires_at, tables.adapter_state.c.updated_at)
                                            .where(tables.adapter_state.c.namespace == "portal.uploads")).one()
        assert (expires - updated).total_seconds() == 60

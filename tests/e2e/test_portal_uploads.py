"""Attachment bytes: stored only after authentication and the tenant check, within a quota per
client, released when an application uses them (and otherwise they expire)."""

from __future__ import annotations

import json
from collections.abc import Iterator
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


def test_uploads_and_multipart_parts_stream_into_the_blob_store(tmp_path: Path) -> None:
    """16 MiB through /v1/uploads and as a multipart part: the gateway never holds them whole
    (Python allocations of client and server together stay far below the content's size)."""
    import hashlib
    import tracemalloc

    size, piece = 16 * 1024 * 1024, bytes(range(256)) * 1024  # generated, never one bytes object

    def body() -> Iterator[bytes]:
        for _ in range(size // len(piece)):
            yield piece

    digest = hashlib.sha512()
    for chunk in body():
        digest.update(chunk)
    with running_gateway(tmp_path) as api:
        tracemalloc.start()
        try:
            answer = api.http.post("/v1/uploads", content=body(), headers=api.auth("portal"))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert answer.status_code == 201, answer.text
        assert answer.json() == {"upload_id": "sha512/" + digest.hexdigest(), "sha512": digest.hexdigest(),
                                 "size": size}
        assert peak < 6 * 1024 * 1024, peak
        assert api.gw.blobs.exists("sha512/" + digest.hexdigest())
        envelope = hund_envelope(attachments=[{"id": "plan", "filename": "plan.pdf", "media_type": "application/pdf",
                                               "sha512": digest.hexdigest()}])
        # the same bytes as a multipart part (the client streams its body, too)
        def multipart() -> Iterator[bytes]:
            yield (b'--BOUNDARY\r\nContent-Disposition: form-data; name="application"; filename="a.json"\r\n'
                   b"Content-Type: application/json\r\n\r\n" + json.dumps(envelope).encode() +
                   b'\r\n--BOUNDARY\r\nContent-Disposition: form-data; name="plan"; filename="plan.pdf"\r\n'
                   b"Content-Type: application/pdf\r\n\r\n")
            yield from body()
            yield b"\r\n--BOUNDARY--\r\n"

        headers = api.auth("portal", **{"Idempotency-Key": new_key(),
                                        "Content-Type": "multipart/form-data; boundary=BOUNDARY"})
        tracemalloc.start()
        try:
            created = api.http.post("/v1/applications", headers=headers, content=multipart())
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert created.status_code == 201, created.text
        assert peak < 6 * 1024 * 1024, peak


# -- a refused multipart application: its attachments are deleted at once, never pending ---------

def _refused_multipart(api: Api, content: bytes, **envelope: object) -> httpx.Response:
    """A multipart application whose form data cannot be mapped (the dog's name is missing)."""
    application = hund_envelope(attachments=[attachment_ref("scan", content)], **envelope)
    del application["data"]["hund"]["name"]  # type: ignore[index]
    return _multipart(api, application, content)


def _blob_files(api: Api) -> set[Path]:
    return {p for p in api.gw.settings.effective_blob_dir.rglob("*") if p.is_file()}


def test_a_refused_multipart_application_leaves_no_attachment_and_no_pending_upload(api: Api) -> None:
    content = b"%PDF-1.7 scan of a refused application " + new_key().encode() + b"x" * 200_000
    before = _blob_files(api)
    response = _refused_multipart(api, content)
    assert response.status_code == 422, response.text
    assert response.json()["type"] == problem_type("mapping-failed")
    assert not _stored(api, content)
    assert _blob_files(api) == before
    assert api.gw.state.scan("portal.uploads", "portal:") == []  # nothing counts against the quota


def test_a_refused_application_never_deletes_an_attachment_a_case_shares(api: Api) -> None:
    content = b"%PDF-1.7 the same scan twice " + new_key().encode()
    accepted = _multipart(api, hund_envelope(attachments=[attachment_ref("scan", content)]), content)
    assert accepted.status_code == 201, accepted.text
    case = api.case(accepted.json()["case_id"])
    response = _refused_multipart(api, content)
    assert response.status_code == 422
    assert _stored(api, content)
    attachment = case["attachments"][0]
    download = api.http.get(f"/v1/cases/{case['id']}/attachments/{attachment['id']}", headers=api.auth("fach"))
    assert download.status_code == 200 and download.content == content


def test_refused_bytes_count_against_the_client_until_it_pauses(tmp_path: Path) -> None:
    """Ten large refused applications (the reviewer's repro, smaller): the blob folder stays as it
    was, and once the client's refused bytes of the hour are used up it gets 429 before its
    next body is even read — other clients are not affected."""
    budget = 1024 * 1024
    with running_gateway(tmp_path, adapters={"portal": {"refused_bytes_per_hour": budget}}) as api:
        before = _blob_files(api)
        answers = [_refused_multipart(api, bytes([n]) * 300_000 + b"%PDF").status_code for n in range(10)]
        assert answers[:4] == [422] * 4  # 4 x 300 KB: the budget is used up after the fourth
        assert set(answers[4:]) == {429}
        assert _blob_files(api) == before
        limited = _refused_multipart(api, b"%PDF-1.7 one more")
        assert limited.status_code == 429 and limited.headers["content-type"] == PROBLEM_JSON
        assert 0 < int(limited.headers["retry-after"]) <= 3600
        assert limited.json()["quota_refused_bytes"] == budget
        other = _multipart(api, hund_envelope(tenant=OTHER_TENANT, attachments=[attachment_ref("scan", b"%PDF o")]),
                           b"%PDF o", client="other")
        assert other.status_code != 429

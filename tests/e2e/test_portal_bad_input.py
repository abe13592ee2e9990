"""Bad input to the portal channel over real HTTP: every refusal is a clear RFC 9457 problem,
creates no case, keeps nothing of the request (no inbox row, no blob) and is recorded as a
refusal without personal data."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import types
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey

from gateway.api import auth
from gateway.config import ClientConfig
from tests.conftest import SECRETS, TENANT, TESTDATA, client_configs, secret_hash
from tests.e2e.conftest import (
    GEWERBE,
    HUND,
    OTHER_TENANT,
    PROBLEM_JSON,
    Api,
    attachment_ref,
    gewerbe_envelope,
    hund_envelope,
    new_key,
    problem_type,
    running_gateway,
    sha512,
)

MAX_BODY = 2048
PDF = b"%PDF-1.7\n" + b"0123456789abcdef" * 16 + b"\n%%EOF\n"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with running_gateway(tmp_path_factory.mktemp("bad-input"), max_body_bytes=MAX_BODY) as running:
        yield running


def refused(api: Api, send: Callable[[], httpx.Response], status: int, slug: str,
            client: str = "portal", recorded: bool = True) -> dict[str, Any]:
    """Sends, checks the problem, that nothing of the request was kept (no case, no inbox row,
    no raw original) and that a refusal was recorded without personal data (``recorded``: False
    for what is refused before the route runs, e.g. a body over the size limit)."""
    cases, inbox = api.case_count(), api.inbox_count()
    refusals = len(api.audit_rows(action="request.refused"))
    response = send()
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    problem: dict[str, Any] = response.json()
    assert problem["type"] == problem_type(slug)
    assert problem["status"] == status
    assert "case_id" not in problem and "inbox_id" not in problem
    assert api.case_count() == cases, "a refused request created a case"
    assert api.inbox_count() == inbox, "a refused request was kept in the inbox"
    records = api.audit_rows(action="request.refused")
    assert len(records) == refusals + (1 if recorded else 0)
    if not recorded:
        return problem
    record = records[-1]
    assert record["actor"] == f"client:{client}"
    assert record["details"] == {"channel": "portal", "type": problem_type(slug), "status": status}
    assert (record["inbox_id"], record["case_id"]) == (None, None)
    return problem


def post_raw(api: Api, body: bytes | Iterator[bytes], content_type: str | None = "application/json",
             client: str = "portal", path: str = "/v1/applications") -> httpx.Response:
    headers = api.auth(client, **{"Idempotency-Key": new_key()})
    if content_type is not None:
        headers["content-type"] = content_type
    return api.http.post(path, content=body, headers=headers)


def multipart(api: Api, envelope: dict[str, Any], parts: list[tuple[str, bytes]]) -> httpx.Response:
    files: list[tuple[str, Any]] = [("application", ("a.json", json.dumps(envelope).encode(), "application/json"))]
    files += [(name, (f"{name}.bin", content, "application/octet-stream")) for name, content in parts]
    return api.http.post("/v1/applications", files=files, headers=api.auth("portal", **{"Idempotency-Key": new_key()}))


# -- not JSON, not an envelope -------------------------------------------------------------------

@pytest.mark.parametrize("body", [b'{"tenant": ', b"", b"{tenant: 1}", b"\xff\xfe{}", b'{"a": NaN}'],
                         ids=["truncated", "empty", "unquoted", "not-utf8", "nan"])
def test_malformed_json(api: Api, body: bytes) -> None:
    problem = refused(api, lambda: post_raw(api, body), 400, "malformed-json")
    assert problem["detail"] == "the request body is not valid JSON"


@pytest.mark.parametrize("body", [b"[]", b'"text"', b"null", b"42"])
def test_json_that_is_not_an_object(api: Api, body: bytes) -> None:
    refused(api, lambda: post_raw(api, body), 422, "invalid-payload")


@pytest.mark.parametrize("change,location", [
    ({"tenant": 150905350535}, "tenant"),
    ({"service": 99108008001000}, "service"),
    ({"data": "halter=Erika"}, "data"),
    ({"data": None}, "data"),
    ({"attachments": {"id": "x"}}, "attachments"),
    ({"submitted_at": "gestern"}, "submitted_at"),
    ({"request_id": 17}, "request_id"),
    ({"account": {"provider": "bundid", "pseudonym": "p", "trust_level": "mittel"}}, "account/trust_level"),
    ({"reply_channel": {"kind": "fax", "address": "0391 1234"}}, "reply_channel/kind"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_wrong_types_in_the_envelope(api: Api, change: dict[str, Any], location: str) -> None:
    problem = refused(api, lambda: api.submit(hund_envelope(**change), key=new_key()), 422, "invalid-payload")
    assert problem["detail"].startswith(f"invalid application envelope at {location}")
    assert "Erika" not in json.dumps(problem)
    assert "0391" not in json.dumps(problem)


@pytest.mark.parametrize("where", ["envelope", "attachment", "account"])
def test_unknown_members_are_refused_not_ignored(api: Api, where: str) -> None:
    envelope = hund_envelope()
    if where == "envelope":
        envelope["applicant_name"] = "Erika Mustermann"
        location = "applicant_name"
    elif where == "attachment":
        api.http.post("/v1/uploads", content=PDF, headers=api.auth("portal"))
        envelope["attachments"] = [attachment_ref("a1", PDF, owner="Erika Mustermann")]
        location = "attachments/0/owner"
    else:
        envelope["account"] = {"provider": "bundid", "pseudonym": "p", "trust_level": "hoch",
                               "name": "Erika Mustermann"}
        location = "account/name"
    problem = refused(api, lambda: api.submit(envelope, key=new_key()), 422, "invalid-payload")
    assert problem["detail"] == f"invalid application envelope at {location}: Extra inputs are not permitted"
    assert "Erika" not in json.dumps(problem)


@pytest.mark.parametrize("missing", ["tenant", "service", "form", "submitted_at", "data"])
def test_missing_envelope_members(api: Api, missing: str) -> None:
    envelope = hund_envelope()
    del envelope[missing]
    problem = refused(api, lambda: api.submit(envelope, key=new_key()), 422, "invalid-payload")
    assert problem["detail"] == f"invalid application envelope at {missing}: Field required"


def test_submitted_at_without_time_zone(api: Api) -> None:
    envelope = hund_envelope(submitted_at="2026-11-20T09:30:00")
    problem = refused(api, lambda: api.submit(envelope, key=new_key()), 422, "invalid-payload")
    assert "submitted_at" in problem["detail"]
    assert "time zone" in problem["detail"]


# -- the form data cannot be mapped (recorded in the quarantine) --------------------------------

@pytest.mark.parametrize("path,value,field", [
    ("hund/wurfdatum", "31.02.2024", "wurfdatum"),
    ("hund/wurfdatum", "2024-13-01", "wurfdatum"),
    ("hund/wurfdatum", "am 3. Mai gewölft", "wurfdatum"),
    ("halter/geburtsdatum", "1980-02-30", "applicant.birth_date"),
    ("hund/gefaehrlich", "vielleicht-ja", "gefaehrlich"),
])
def test_invalid_values_in_the_form_data(api: Api, path: str, value: str, field: str) -> None:
    envelope = hund_envelope()
    group, member = path.split("/")
    envelope["data"][group][member] = value
    problem = refused(api, lambda: api.submit(envelope, key=new_key()), 422, "mapping-failed")
    assert problem["field"] == field
    assert problem["path"] == f"/{path}"
    assert field in problem["detail"]
    assert value not in json.dumps(problem), "the problem must not echo the (personal) value"
    assert value not in json.dumps([a["details"] for a in api.audit_rows(action="request.refused")])


@pytest.mark.parametrize("path,field", [
    ("hund/name", "hund_name"), ("halter/nachname", "applicant.family_name"),
    ("halter/vorname", "applicant.given_names"),
])
def test_missing_required_form_fields(api: Api, path: str, field: str) -> None:
    envelope = hund_envelope()
    group, member = path.split("/")
    del envelope["data"][group][member]
    problem = refused(api, lambda: api.submit(envelope, key=new_key()), 422, "mapping-failed")
    assert problem["field"] == field
    assert problem["path"] == f"/{path}"
    assert "missing" in problem["detail"]


def test_repeating_a_refused_request_is_refused_again_and_kept_neither_time(api: Api) -> None:
    envelope, key = hund_envelope(), new_key()
    del envelope["data"]["hund"]["name"]
    first = refused(api, lambda: api.submit(envelope, key=key), 422, "mapping-failed")
    again = refused(api, lambda: api.submit(envelope, key=key), 422, "mapping-failed")
    assert again == first
    # the corrected request with the same key goes through: the refusal held nothing back
    envelope["data"]["hund"]["name"] = "Bello"
    assert api.submit(envelope, key=key).status_code == 201


def blob_files(api: Api) -> set[Path]:
    """Every file in the blob store's folders, temporary ones included."""
    return {p for p in api.gw.settings.effective_blob_dir.rglob("*") if p.is_file()}


def test_a_refused_request_leaves_nothing_on_disk(api: Api) -> None:
    """Verify, route and map run before anything is written: the raw original of a request that
    is refused there never reaches the blob store (nothing is left for a collector)."""
    envelope = hund_envelope()
    envelope["data"]["halter"]["vorname"] = f"Unverwechselbar-{uuid.uuid4().hex}"
    envelope["data"]["hund"]["notiz"] = "n" * 1000
    del envelope["data"]["hund"]["name"]
    body = json.dumps(envelope).encode()
    before = blob_files(api)
    refused(api, lambda: api.http.post("/v1/applications", content=body, headers=api.auth(
        "portal", **{"content-type": "application/json", "Idempotency-Key": new_key()})), 422, "mapping-failed")
    assert not api.gw.blobs.exists("sha512/" + hashlib.sha512(body).hexdigest())
    assert blob_files(api) == before
    summary = api.get("/v1/admin/rejections", "admin").json()
    assert summary["by_type"][problem_type("mapping-failed")] >= 1
    assert envelope["data"]["halter"]["vorname"] not in json.dumps(summary)


def _rejections(api: Api, admin: str) -> dict[str, Any]:
    response = api.get("/v1/admin/rejections", admin, params={"limit": 500})
    assert response.status_code == 200, response.text
    summary: dict[str, Any] = response.json()
    return summary


def test_refusals_name_the_municipality_the_request_named_and_reach_their_admins(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A refusal raised before the case is built (an unknown member, a municipality the client
    may not act for) records the municipality the envelope named; one refused before any was
    readable (not JSON) has none and is shown to the admins of the client's municipalities."""
    monkeypatch.setitem(SECRETS, "admin-other", "admin-other-secret")
    clients = [*client_configs(), ClientConfig(client_id="admin-other", secret_hash=secret_hash("admin-other-secret"),
                                               scopes=["admin"], tenants=[OTHER_TENANT])]
    with running_gateway(tmp_path, clients=clients) as api:
        unknown_member = hund_envelope()
        unknown_member["applicant_name"] = "Erika Mustermann"
        refused(api, lambda: api.submit(unknown_member, key=new_key()), 422, "invalid-payload")
        refused(api, lambda: api.submit(hund_envelope(tenant=OTHER_TENANT), key=new_key()), 403, "forbidden")
        refused(api, lambda: post_raw(api, b'{"tenant": '), 400, "malformed-json")
        refused(api, lambda: post_raw(api, b"{}", client="other"), 422, "invalid-payload", client="other")
        records = api.audit_rows(action="request.refused")
        assert [r["tenant_ars"] for r in records] == [TENANT, OTHER_TENANT, None, None]

        mine = _rejections(api, "admin")  # administers TENANT and OTHER_TENANT
        assert mine["total"] == 4
        assert sorted((r["client"], r["tenant"] or "") for r in mine["latest"]) == sorted(
            [("portal", TENANT), ("portal", OTHER_TENANT), ("portal", ""), ("other", "")])
        theirs = _rejections(api, "admin-other")  # OTHER_TENANT only: "portal" is not one of its clients
        assert sorted((r["client"], r["tenant"] or "") for r in theirs["latest"]) == sorted(
            [("portal", OTHER_TENANT), ("other", "")])
        assert "Erika" not in json.dumps(mine)


# -- size, media type, attachments -------------------------------------------------------------

def _oversize_envelope() -> bytes:
    body = json.dumps(hund_envelope(data={"halter": {"vorname": "E", "nachname": "M"},
                                          "hund": {"name": "B", "notiz": "x" * (MAX_BODY + 100)}})).encode()
    assert len(body) > MAX_BODY
    return body


def _chunks(body: bytes, size: int = 512) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start:start + size]


def test_oversize_body_with_content_length(api: Api) -> None:
    body = _oversize_envelope()
    problem = refused(api, lambda: post_raw(api, body), 413, "payload-too-large", recorded=False)
    assert problem["limit"] == MAX_BODY
    assert str(MAX_BODY) in problem["detail"]


def test_oversize_chunked_body_without_content_length(api: Api) -> None:
    def send() -> httpx.Response:
        request = api.http.build_request("POST", "/v1/applications", content=_chunks(_oversize_envelope()),
                                         headers=api.auth("portal", **{"content-type": "application/json"}))
        assert "content-length" not in request.headers
        assert request.headers["transfer-encoding"] == "chunked"
        return api.http.send(request)

    refused(api, send, 413, "payload-too-large")


def test_oversize_multipart(api: Api) -> None:
    big = PDF * 12
    envelope = hund_envelope(attachments=[attachment_ref("gross", big)])
    refused(api, lambda: multipart(api, envelope, [("gross", big)]), 413, "payload-too-large", recorded=False)
    assert not api.gw.blobs.exists(f"sha512/{sha512(big)}")


def test_oversize_upload_chunked(api: Api) -> None:
    content = b"u" * (MAX_BODY * 2)
    refused(api, lambda: post_raw(api, _chunks(content), "application/octet-stream", path="/v1/uploads"),
            413, "payload-too-large", recorded=False)
    assert not api.gw.blobs.exists(f"sha512/{sha512(content)}")


def test_oversize_chunked_status_change_is_413(api: Api) -> None:
    """The size limit must not depend on how FastAPI reads a declared body."""
    case_id = api.create_case()["case_id"]
    body = json.dumps({"status": "in_progress", "version": 1, "note": "n" * (MAX_BODY + 10)}).encode()
    with_length = api.http.post(f"/v1/cases/{case_id}/status", content=body,
                                headers=api.auth("fach", **{"content-type": "application/json"}))
    assert with_length.status_code == 413
    chunked = api.http.post(f"/v1/cases/{case_id}/status", content=_chunks(body),
                            headers=api.auth("fach", **{"content-type": "application/json"}))
    assert chunked.status_code == 413, chunked.text
    assert chunked.json()["type"] == problem_type("payload-too-large")
    assert api.case(case_id)["version"] == 1


def test_oversize_chunked_token_request_is_413(api: Api) -> None:
    body = f"grant_type=client_credentials&client_id=portal&client_secret={'s' * MAX_BODY}".encode()
    chunked = api.http.post("/oauth/token", content=_chunks(body),
                            headers={"content-type": "application/x-www-form-urlencoded"})
    assert chunked.status_code == 413, chunked.text
    assert chunked.json()["type"] == problem_type("payload-too-large")


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "application/x-www-form-urlencoded",
                                          None])
def test_unsupported_media_type(api: Api, content_type: str | None) -> None:
    body = json.dumps(hund_envelope()).encode()
    problem = refused(api, lambda: post_raw(api, body, content_type), 415, "unsupported-media-type")
    assert problem["accepted"] == ["application/json", "multipart/form-data"]


def test_attachment_hash_mismatch_in_multipart(api: Api) -> None:
    tampered = PDF + b"tampered"
    envelope = hund_envelope(attachments=[attachment_ref("nachweis", PDF)])
    problem = refused(api, lambda: multipart(api, envelope, [("nachweis", tampered)]), 422, "invalid-payload")
    assert problem["attachment"] == "nachweis"
    assert "SHA-512" in problem["detail"]
    assert not api.gw.blobs.exists(f"sha512/{sha512(tampered)}")


def test_multipart_part_not_announced(api: Api) -> None:
    envelope = hund_envelope(attachments=[attachment_ref("nachweis", PDF)])
    problem = refused(api, lambda: multipart(api, envelope, [("nachweis", PDF), ("extra", b"surprise")]),
                      422, "invalid-request")
    assert "'extra'" in problem["detail"]


def test_multipart_without_envelope_part(api: Api) -> None:
    def send() -> httpx.Response:
        return api.http.post("/v1/applications", files=[("nachweis", ("n.pdf", PDF, "application/pdf"))],
                             headers=api.auth("portal", **{"Idempotency-Key": new_key()}))

    problem = refused(api, send, 422, "invalid-request")
    assert "application" in problem["detail"]


@pytest.mark.parametrize("content_type,body", [
    ("multipart/form-data", b"--x\r\n"),
    ("multipart/form-data; boundary=abc", b"garbage without any boundary"),
], ids=["no-boundary", "garbage"])
def test_malformed_multipart(api: Api, content_type: str, body: bytes) -> None:
    problem = refused(api, lambda: post_raw(api, body, content_type), 400, "http-error")
    assert "multipart" in problem["title"].lower()


def test_multipart_with_invalid_envelope(api: Api) -> None:
    envelope = hund_envelope(tenant="Tangerhütte")
    refused(api, lambda: multipart(api, envelope, []), 422, "invalid-payload")


def test_announced_attachment_never_uploaded(api: Api) -> None:
    never = b"never uploaded " + uuid.uuid4().bytes
    envelope = hund_envelope(attachments=[attachment_ref("fehlt", never)])
    problem = refused(api, lambda: api.submit(envelope, key=new_key()), 422, "invalid-payload")
    assert problem["attachment"] == "fehlt"


def test_duplicate_attachment_ids(api: Api) -> None:
    """Attachments are addressed by id (GET /v1/cases/{id}/attachments/{attachment_id}); two
    with the same id would make the second unreachable."""
    first, second = b"first " + PDF, b"second " + PDF
    for content in (first, second):
        assert api.http.post("/v1/uploads", content=content, headers=api.auth("portal")).status_code == 201
    envelope = hund_envelope(attachments=[attachment_ref("a1", first, filename="eins.pdf"),
                                          attachment_ref("a1", second, filename="zwei.pdf")])
    refused(api, lambda: api.submit(envelope, key=new_key()), 422, "invalid-payload")


@pytest.mark.parametrize("filename", ["../../etc/passwd", "a/b.pdf", "..\\x.pdf", "a\x00.pdf", "a\n.pdf",
                                      "..", ".htaccess", "/etc/passwd", "C:\\boot.ini", "a\x1b[31m.pdf"])
def test_unsafe_file_names(api: Api, filename: str) -> None:
    envelope = hund_envelope(attachments=[attachment_ref("a1", PDF, filename=filename)])
    problem = refused(api, lambda: api.submit(envelope, key=new_key()), 422, "invalid-payload")
    # control characters are refused for every string (with the field as a JSON Pointer), the rest by the model
    assert (problem.get("field") == "/attachments/0/filename"
            or problem["detail"].startswith("invalid application envelope at attachments/0/filename"))


def test_unsafe_file_name_in_multipart(api: Api) -> None:
    envelope = hund_envelope(attachments=[attachment_ref("a1", PDF, filename="../../etc/passwd")])
    refused(api, lambda: multipart(api, envelope, [("a1", PDF)]), 422, "invalid-payload")


@pytest.mark.parametrize("media_type", ["text/html", "application/x-msdownload", "image/svg+xml", "APPLICATION/PDF"])
def test_attachment_media_type_not_accepted(api: Api, media_type: str) -> None:
    envelope = hund_envelope(attachments=[attachment_ref("a1", PDF, media_type=media_type)])
    problem = refused(api, lambda: api.submit(envelope, key=new_key()), 422, "invalid-payload")
    assert "attachments/0/media_type" in problem["detail"]


# -- routing refusals (recorded) and replay ------------------------------------------------------

def test_channel_not_allowed_then_fixed_catalog_and_resent(tmp_path: Path) -> None:
    """The cause is fixed (the catalog opens the service to the portal); the portal sends the
    request again with the same Idempotency-Key and gets its case: the refusal kept nothing."""
    mappings = tmp_path / "mappings"
    shutil.copytree(TESTDATA / "mappings", mappings)
    catalog = mappings / "catalog" / "testhausen.yaml"
    original = catalog.read_text(encoding="utf-8")
    gewerbe_channels = "channels: [portal]\n    queue: gewerbeamt"
    closed = original.replace(gewerbe_channels, "channels: [testpull]\n    queue: gewerbeamt")
    assert closed != original
    catalog.write_text(closed, encoding="utf-8")
    data_dir = tmp_path / "data"
    envelope = gewerbe_envelope()
    key = new_key()
    with running_gateway(data_dir, mappings_dir=mappings) as first:
        session = first.citizen_session("hoch", "p-1")
        problem = refused(first, lambda: first.submit(envelope, key=key, session=session), 403, "channel-not-allowed")
        assert (problem["service"], problem["channel"]) == (GEWERBE, "portal")
    catalog.write_text(original, encoding="utf-8")
    with running_gateway(data_dir, mappings_dir=mappings) as fixed:
        assert (fixed.case_count(), fixed.inbox_count()) == (0, 0)
        retry = fixed.submit(envelope, key=key, session=fixed.citizen_session("hoch", "p-1"))
        assert retry.status_code == 201, retry.text
        assert "idempotent-replayed" not in retry.headers
        assert retry.json()["service"] == GEWERBE
        assert fixed.inbox_count() == 1
        case = fixed.case(retry.json()["case_id"])
        assert case["applicant"]["account"]["trust_level"] == "hoch"


def test_unknown_tenant_is_refused_and_counted(api: Api) -> None:
    envelope = hund_envelope(tenant="159999999999")
    problem = refused(api, lambda: api.submit(envelope, key=new_key(), client="hub"), 404,
                      "unknown-tenant", client="hub")
    assert problem["tenant"] == "159999999999"
    assert problem["detail"] == "this installation serves no municipality with that ARS"
    assert api.get("/v1/admin/inbox", "admin", params={"state": "quarantined", "limit": 500}).json() == []


def test_replay_of_unknown_or_committed_inbox_entry_is_404(api: Api) -> None:
    response = api.submit(hund_envelope(), key=new_key())
    assert response.status_code == 201
    [audit] = api.audit_rows(case_id=response.json()["case_id"], action="case.created")
    for inbox_id in (audit["inbox_id"], str(uuid.uuid4())):
        replay = api.http.post(f"/v1/admin/inbox/{inbox_id}/replay", headers=api.auth("admin"))
        assert replay.status_code == 404
        assert replay.json()["type"] == problem_type("not-found")


def test_tenant_the_client_may_not_act_for(api: Api) -> None:
    problem = refused(api, lambda: api.submit(hund_envelope(tenant="159999999999"), key=new_key()), 403,
                      "forbidden")
    assert "municipality" in problem["detail"]
    refused(api, lambda: api.submit(hund_envelope(tenant=TENANT), key=new_key(), client="other"), 403,
            "forbidden", client="other")
    refused(api, lambda: api.submit(hund_envelope(tenant=OTHER_TENANT), key=new_key()), 403,
            "forbidden")


def test_unknown_service(api: Api) -> None:
    problem = refused(api, lambda: api.submit(hund_envelope(service="99999999999999"), key=new_key()), 422,
                      "unknown-service")
    assert problem["service"] == "99999999999999"


def test_form_that_does_not_belong_to_the_service(api: Api) -> None:
    envelope = hund_envelope(form="test-gewerbe")
    problem = refused(api, lambda: api.submit(envelope, key=new_key()), 422, "unsupported-format")
    assert (problem["service"], problem["format"]) == (HUND, "portal:test-gewerbe")


@pytest.mark.parametrize("level", [None, "niedrig"], ids=["no-login", "niedrig"])
def test_trust_level_too_low(api: Api, level: str | None) -> None:
    envelope = gewerbe_envelope()
    session = api.citizen_session(level, "p-low") if level else None
    problem = refused(api, lambda: api.submit(envelope, key=new_key(), session=session), 403,
                      "trust-level-too-low")
    assert (problem["service"], problem["required"]) == (GEWERBE, "substantiell")


@pytest.mark.parametrize("level", ["substantiell", "hoch"])
def test_trust_level_high_enough(api: Api, level: str) -> None:
    envelope = gewerbe_envelope()
    before = api.case_count()
    response = api.submit(envelope, key=new_key(), session=api.citizen_session(level, f"p-{level}"))
    assert response.status_code == 201, response.text
    assert api.case_count() == before + 1
    case = api.case(response.json()["case_id"])
    assert case["applicant"]["account"]["trust_level"] == level
    assert case["applicant"]["account"]["pseudonym"] == f"p-{level}"
    assert case["applicant"]["account"]["proved_by"] == "eID"
    assert case["applicant"]["party"] == {"kind": "organisation", "name": "Muster Holz GmbH", "legal_form": None,
                                          "register_number": None, "address": None, "contact": None,
                                          "contact_person": None}


# -- authentication and scopes ---------------------------------------------------------------------

def _submit_with(api: Api, authorization: str | None) -> httpx.Response:
    headers = {"Idempotency-Key": new_key()}
    if authorization is not None:
        headers["Authorization"] = authorization
    return api.http.post("/v1/applications", json=hund_envelope(), headers=headers)


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": "rathaus-gateway", "aud": "rathaus-gateway", "sub": "portal", "iat": now, "exp": now + 600,
            "jti": str(uuid.uuid4()), "scope": "applications:submit", "tenants": [TENANT], **overrides}


def _assert_unauthorized(api: Api, authorization: str | None) -> dict[str, Any]:
    cases, inbox = api.case_count(), api.inbox_count()
    response = _submit_with(api, authorization)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == 'Bearer realm="rathaus-gateway"'
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["type"] == problem_type("unauthorized")
    assert (api.case_count(), api.inbox_count()) == (cases, inbox)
    problem: dict[str, Any] = response.json()
    return problem


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Basic cG9ydGFsOnBvcnRhbC1zZWNyZXQ=",
                                           "Bearer not-a-jwt", "Bearer a.b.c", "Token abc"])
def test_missing_or_garbled_token(api: Api, authorization: str | None) -> None:
    _assert_unauthorized(api, authorization)


def test_token_signed_with_another_key(api: Api) -> None:
    key = OctKey.import_key(b"another-signing-key-0123456789abcdef-xyz")
    forged = jwt.encode({"alg": "HS256", "typ": "at+jwt"}, _claims(), key, algorithms=["HS256"])
    problem = _assert_unauthorized(api, f"Bearer {forged}")
    assert problem["error"] == "invalid_token"


def test_token_of_another_issuer_or_unknown_client(api: Api) -> None:
    key = OctKey.import_key(b"test-signing-key-0123456789abcdef0123456789")
    for claims in (_claims(iss="someone-else"), _claims(aud="someone-else"), _claims(sub="ghost")):
        token = jwt.encode({"alg": "HS256"}, claims, key, algorithms=["HS256"])
        _assert_unauthorized(api, f"Bearer {token}")
    # control: the same construction with the right claims is accepted
    token = jwt.encode({"alg": "HS256"}, _claims(), key, algorithms=["HS256"])
    assert _submit_with(api, f"Bearer {token}").status_code == 201


def test_expired_token(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    real_time = time.time
    # the token is issued "16 minutes ago", i.e. it expired a minute ago (ttl 900 s)
    monkeypatch.setattr(auth, "time", types.SimpleNamespace(time=lambda: real_time() - 960))
    issued = api.http.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": "portal",
                                                 "client_secret": SECRETS["portal"]})
    assert issued.status_code == 200
    monkeypatch.undo()
    token = issued.json()["access_token"]
    problem = _assert_unauthorized(api, f"Bearer {token}")
    assert problem["error"] == "invalid_token"


def test_token_expiring_while_in_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A token that worked (and sits in the verification cache) stops working after its lifetime."""
    offset = [0.0]
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + offset[0])
    with running_gateway(tmp_path / "gw", token_ttl_seconds=60) as short:
        issued = short.http.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": "portal",
                                                       "client_secret": SECRETS["portal"]}).json()
        assert issued["expires_in"] == 60
        header = {"Authorization": f"Bearer {issued['access_token']}"}
        assert short.http.post("/v1/uploads", content=b"fresh", headers=header).status_code == 201
        offset[0] = 50  # near the end of its lifetime, with room for a slow machine
        assert short.http.post("/v1/uploads", content=b"still", headers=header).status_code == 201
        offset[0] = 61
        expired = short.http.post("/v1/uploads", content=b"stale", headers=header)
        assert expired.status_code == 401
        assert expired.headers["www-authenticate"] == 'Bearer realm="rathaus-gateway"'
        assert expired.json()["error"] == "invalid_token"
        assert not short.gw.blobs.exists(f"sha512/{sha512(b'stale')}")


def test_wrong_scope(api: Api) -> None:
    problem = refused(api, lambda: api.submit(hund_envelope(), key=new_key(), client="fach"), 403, "forbidden",
                      client="fach")
    assert problem["required_scope"] == "applications:submit"
    narrowed = api.http.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": "other",
                                                   "client_secret": SECRETS["other"], "scope": "cases:read"}).json()
    refused(api, lambda: _submit_with(api, f"Bearer {narrowed['access_token']}"), 403, "forbidden", client="other")


# -- valid JSON the gateway cannot carry --------------------------------------------------------

def test_big_integer_in_form_data_is_answered_not_retried_forever(api: Api) -> None:
    """Valid JSON (RFC 8259 sets no integer limit) must end as a case or as a permanent refusal —
    not as a 202 that the worker retries until it becomes a dead letter."""
    envelope = hund_envelope()
    envelope["data"]["hund"]["chipnummer"] = 276098106543210987654321
    cases, inbox, key = api.case_count(), api.inbox_count(), new_key()
    response = api.submit(envelope, key=key)
    assert response.status_code in (201, 422), response.text
    if response.status_code == 422:
        assert response.json()["type"] in (problem_type("invalid-payload"), problem_type("mapping-failed"))
        assert api.case_count() == cases
    api.gw.worker.run_until_idle()
    assert api.inbox_count() == inbox + (1 if response.status_code == 201 else 0)
    retrying = [e for e in api.get("/v1/admin/inbox", "admin", params={"state": "retry"}).json()
                if e["source_id"].endswith(key)]
    assert retrying == [], "the message waits for retries that cannot succeed"


def test_an_account_in_the_application_is_refused(api: Api) -> None:
    """The applicant's identity comes from the citizen session, never from the form body."""
    envelope = gewerbe_envelope(account={"provider": "bundid", "pseudonym": "forged", "trust_level": "hoch"})
    problem = refused(api, lambda: api.submit(envelope, key=new_key()), 422, "invalid-request")
    assert "Citizen-Session" in problem["detail"]


def test_an_invalid_or_foreign_citizen_session_is_refused(api: Api) -> None:
    problem = refused(api, lambda: api.submit(hund_envelope(), key=new_key(), session="not-a-token"), 401,
                      "citizen-session-invalid")
    assert problem["status"] == 401
    foreign = api.citizen_session("hoch", "p-x", tenant="150855500000")
    refused(api, lambda: api.submit(hund_envelope(), key=new_key(), session=foreign), 403, "forbidden")


def test_the_session_account_reaches_the_case_and_is_refreshed(api: Api) -> None:
    response = api.submit(gewerbe_envelope(), key=new_key(), session=api.citizen_session("substantiell", "p-ref"))
    assert response.status_code == 201, response.text
    assert response.headers["citizen-session"].count(".") == 2
    account = api.case(response.json()["case_id"])["applicant"]["account"]
    assert account == {"provider": "bundid", "pseudonym": "p-ref", "trust_level": "substantiell",
                       "postbox_reference": None, "proved_by": "eID", "authn_context": "STORK-QAA-Level-3"}

"""The portal channel over real HTTP: tokens, JSON and multipart submissions, uploads,
attachments, and the de-duplication of repeated requests (Idempotency-Key, request_id)."""

from __future__ import annotations

import datetime as dt
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.conftest import SECRETS, TENANT
from tests.e2e.conftest import (
    HUND,
    OTHER_TENANT,
    PROBLEM_JSON,
    Api,
    attachment_ref,
    hund_envelope,
    new_key,
    problem_type,
    sha512,
)

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x01\x02binary\xff" * 50


def _token_request(api: Api, **form: str) -> Any:
    return api.http.post("/oauth/token", data={"grant_type": "client_credentials", **form})


# -- tokens ------------------------------------------------------------------------------------

def test_token_for_form_encoded_client_credentials(api: Api) -> None:
    response = _token_request(api, client_id="portal", client_secret=SECRETS["portal"])
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["scope"] == "applications:submit"
    assert body["access_token"].count(".") == 2
    assert response.headers["cache-control"] == "no-store"
    # the token works: a scope-protected endpoint answers with something other than 401
    upload = api.http.post("/v1/uploads", content=b"x", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert upload.status_code == 201


def test_token_scope_can_be_narrowed_but_not_widened(api: Api) -> None:
    narrowed = _token_request(api, client_id="fach", client_secret=SECRETS["fach"], scope="cases:read")
    assert narrowed.status_code == 200
    assert narrowed.json()["scope"] == "cases:read"
    widened = _token_request(api, client_id="fach", client_secret=SECRETS["fach"], scope="cases:read admin")
    assert widened.status_code == 400
    assert widened.json()["type"] == problem_type("token-request-refused")
    assert widened.json()["error"] == "invalid_scope"
    assert "access_token" not in widened.json()


def test_token_refused_for_wrong_secret_unknown_client_and_grant(api: Api) -> None:
    wrong = _token_request(api, client_id="portal", client_secret="not-the-secret")
    assert wrong.status_code == 401
    assert wrong.headers["content-type"] == PROBLEM_JSON
    assert wrong.json()["type"] == problem_type("unauthorized")
    assert wrong.json()["error"] == "invalid_client"
    assert wrong.headers["www-authenticate"].startswith("Bearer")
    unknown = _token_request(api, client_id="nobody", client_secret=SECRETS["portal"])
    assert unknown.status_code == 401
    assert unknown.json()["error"] == "invalid_client"
    grant = api.http.post("/oauth/token", data={"grant_type": "password", "client_id": "portal",
                                                "client_secret": SECRETS["portal"]})
    assert grant.status_code == 400  # RFC 6749 5.2
    assert grant.json()["type"] == problem_type("token-request-refused")
    assert grant.json()["error"] == "unsupported_grant_type"
    as_json = api.http.post("/oauth/token", json={"grant_type": "client_credentials", "client_id": "portal",
                                                  "client_secret": SECRETS["portal"]})
    assert as_json.status_code == 400
    assert as_json.json()["error"] == "invalid_request"


# -- JSON submission ---------------------------------------------------------------------------

def test_json_application_creates_case_with_sequential_reference(fresh_api: Api) -> None:
    api = fresh_api
    year = dt.datetime.now(dt.UTC).year
    created, locations = [], []
    for n in range(1, 4):
        response = api.submit(hund_envelope(), key=new_key())
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["reference"] == f"TGH-{year}-{n:06d}"
        assert body["status"] == "received"
        assert body["tenant"] == TENANT
        assert body["service"] == HUND
        assert body["warnings"] == []
        assert response.headers["location"] == f"/v1/cases/{body['case_id']}"
        assert "idempotent-replayed" not in response.headers
        created.append(body)
        locations.append(response.headers["location"])
    assert len({c["case_id"] for c in created}) == 3
    assert api.case_count() == 3

    case = api.case(created[0]["case_id"])
    assert case["reference"] == created[0]["reference"]
    assert case["version"] == 1
    assert case["status"] == "received"
    assert case["source"]["channel"] == "portal"
    assert case["routing_queue"] == "steueramt"
    assert case["service"] == {"leika": HUND, "name": "Hund anmelden (Test)", "mapping_id": "portal.test-hund",
                               "mapping_version": 3}
    party = case["applicant"]["party"]
    assert (party["kind"], party["given_names"], party["family_name"]) == ("natural_person", "Erika", "Mustermann")
    assert party["birth_date"] == "1980-02-29"
    form = {f["key"]: f["value"] for f in case["form"]}
    assert form == {"hund_name": "Bello", "wurfdatum": "2024-05-01", "gefaehrlich": False}
    assert [h["status"] for h in case["status_history"]] == ["received"]
    assert case["attachments"] == []
    # the raw original is kept, byte for byte the submitted body's digest
    assert api.gw.blobs.exists(case["original"]["storage_key"])
    # the Location header leads to the same case
    located = api.get(locations[2])
    assert located.status_code == 200
    assert located.json()["reference"] == created[2]["reference"]


def test_submitted_at_keeps_its_instant(api: Api) -> None:
    envelope = hund_envelope(submitted_at="2026-11-20T09:30:00+01:00")
    created = api.create_case(envelope)
    case = api.case(created["case_id"])
    assert dt.datetime.fromisoformat(case["submitted_at"]) == dt.datetime(2026, 11, 20, 8, 30, tzinfo=dt.UTC)


# -- attachments -------------------------------------------------------------------------------

def _check_attachment(api: Api, case_id: str, attachment: dict[str, Any], content: bytes,
                      filename: str, media_type: str) -> None:
    assert attachment["sha512"] == sha512(content)
    assert attachment["size"] == len(content)
    assert attachment["filename"] == filename
    assert attachment["media_type"] == media_type
    download = api.get(f"/v1/cases/{case_id}/attachments/{attachment['id']}")
    assert download.status_code == 200
    assert download.content == content
    assert download.headers["content-type"].split(";")[0] == media_type
    assert download.headers["digest"] == f"sha-512={sha512(content)}"
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-disposition"].startswith("attachment;")


def test_multipart_with_envelope_part_and_file_parts(api: Api) -> None:
    envelope = hund_envelope(attachments=[
        attachment_ref("nachweis", PDF, filename="Impfnachweis Bello.pdf", description="Impfpass"),
        attachment_ref("foto", PNG, filename="bello.png", media_type="image/png", purpose="report"),
    ])
    before = api.case_count()
    response = api.http.post(
        "/v1/applications", headers=api.auth("portal", **{"Idempotency-Key": new_key()}),
        files=[("application", ("application.json", json.dumps(envelope).encode(), "application/json")),
               ("nachweis", ("x.pdf", PDF, "application/pdf")),
               ("foto", ("y.png", PNG, "image/png"))])
    assert response.status_code == 201, response.text
    case_id = response.json()["case_id"]
    assert api.case_count() == before + 1
    case = api.case(case_id)
    by_id = {a["id"]: a for a in case["attachments"]}
    assert set(by_id) == {"nachweis", "foto"}
    # the names come from the envelope, not from the parts' Content-Disposition
    _check_attachment(api, case_id, by_id["nachweis"], PDF, "Impfnachweis Bello.pdf", "application/pdf")
    _check_attachment(api, case_id, by_id["foto"], PNG, "bello.png", "image/png")
    assert by_id["nachweis"]["description"] == "Impfpass"
    assert by_id["foto"]["purpose"] == "report"
    assert by_id["nachweis"]["purpose"] == "attachment"
    # the download's file name is made safe for the header
    download = api.get(f"/v1/cases/{case_id}/attachments/nachweis")
    assert download.headers["content-disposition"] == 'attachment; filename="Impfnachweis_Bello.pdf"'


def test_multipart_envelope_as_plain_form_field(api: Api) -> None:
    envelope = hund_envelope(attachments=[attachment_ref("scan", PDF)])
    response = api.http.post(
        "/v1/applications", headers=api.auth("portal", **{"Idempotency-Key": new_key()}),
        data={"application": json.dumps(envelope)}, files=[("scan", ("scan.pdf", PDF, "application/pdf"))])
    assert response.status_code == 201, response.text
    case = api.case(response.json()["case_id"])
    assert [(a["id"], a["sha512"], a["size"]) for a in case["attachments"]] == [("scan", sha512(PDF), len(PDF))]


def test_upload_first_then_reference_by_sha512(api: Api) -> None:
    content = b"Upload first: " + PNG
    upload = api.http.post("/v1/uploads", content=content,
                           headers=api.auth("portal", **{"content-type": "application/octet-stream"}))
    assert upload.status_code == 201
    assert upload.json() == {"upload_id": f"sha512/{sha512(content)}", "sha512": sha512(content),
                             "size": len(content)}
    before = api.case_count()
    envelope = hund_envelope(attachments=[attachment_ref("vorab", content, filename="vorab.png",
                                                         media_type="image/png")])
    response = api.submit(envelope, key=new_key())
    assert response.status_code == 201, response.text
    assert api.case_count() == before + 1
    case_id = response.json()["case_id"]
    [attachment] = api.case(case_id)["attachments"]
    _check_attachment(api, case_id, attachment, content, "vorab.png", "image/png")


def test_upload_needs_submit_scope_and_content(api: Api) -> None:
    empty = api.http.post("/v1/uploads", content=b"", headers=api.auth("portal"))
    assert empty.status_code == 422
    assert empty.json()["type"] == problem_type("invalid-request")
    fach = api.http.post("/v1/uploads", content=b"abc", headers=api.auth("fach"))
    assert fach.status_code == 403
    assert fach.json()["type"] == problem_type("forbidden")
    anonymous = api.http.post("/v1/uploads", content=b"abc")
    assert anonymous.status_code == 401
    assert not api.gw.blobs.exists(f"sha512/{sha512(b'abc')}")


def test_unknown_attachment_id_is_404(api: Api) -> None:
    case_id = api.create_case()["case_id"]
    response = api.get(f"/v1/cases/{case_id}/attachments/nope")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["type"] == problem_type("not-found")


# -- de-duplication ----------------------------------------------------------------------------

def test_repeated_idempotency_key_returns_same_case(api: Api) -> None:
    envelope, key = hund_envelope(), new_key()
    cases_before, inbox_before = api.case_count(), api.inbox_count()
    first = api.submit(envelope, key=key)
    assert first.status_code == 201
    assert "idempotent-replayed" not in first.headers
    for _ in range(2):
        again = api.submit(envelope, key=key)
        assert again.status_code == 201
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()
        assert again.headers["location"] == first.headers["location"]
    assert api.case_count() == cases_before + 1
    assert api.inbox_count() == inbox_before + 1


def test_same_idempotency_key_with_different_body_is_refused(api: Api) -> None:
    key = new_key()
    first = api.submit(hund_envelope(), key=key)
    assert first.status_code == 201
    cases_before, inbox_before = api.case_count(), api.inbox_count()
    changed = hund_envelope()
    changed["data"]["hund"]["name"] = "Rex"
    response = api.submit(changed, key=key)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["type"] == problem_type("idempotency-key-reused")
    assert "case_id" not in response.json()
    assert (api.case_count(), api.inbox_count()) == (cases_before, inbox_before)
    # the first case is untouched
    form = {f["key"]: f["value"] for f in api.case(first.json()["case_id"])["form"]}
    assert form["hund_name"] == "Bello"


def test_idempotency_keys_are_scoped_per_client(api: Api) -> None:
    key = new_key()
    ours = api.submit(hund_envelope(), key=key)
    theirs = api.submit(hund_envelope(tenant=OTHER_TENANT), key=key, client="other")
    assert ours.status_code == theirs.status_code == 201
    assert ours.json()["case_id"] != theirs.json()["case_id"]
    assert theirs.json()["reference"].startswith("ZWG-")
    assert "idempotent-replayed" not in theirs.headers


def test_repeated_request_id_returns_same_case(api: Api) -> None:
    envelope = hund_envelope(request_id=f"portal-req:{new_key()}")
    cases_before = api.case_count()
    first = api.submit(envelope)
    assert first.status_code == 201
    again = api.submit(envelope)
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["case_id"] == first.json()["case_id"]
    # the request id wins over a (different) Idempotency-Key
    keyed = api.submit(envelope, key=new_key())
    assert keyed.status_code == 201
    assert keyed.json()["case_id"] == first.json()["case_id"]
    assert api.case_count() == cases_before + 1
    case = api.case(first.json()["case_id"])
    assert case["source"]["id"] == f"req:portal:{envelope['request_id']}"


def test_requests_without_any_key_are_separate_cases(api: Api) -> None:
    envelope = hund_envelope()
    before = api.case_count()
    first, second = api.submit(envelope), api.submit(envelope)
    assert first.status_code == second.status_code == 201
    assert first.json()["case_id"] != second.json()["case_id"]
    assert api.case_count() == before + 2


def test_invalid_idempotency_key_header_is_refused(api: Api) -> None:
    cases_before, inbox_before = api.case_count(), api.inbox_count()
    for bad in ("short", "has space in it", "x" * 256):
        response = api.submit(hund_envelope(), key=bad)
        assert response.status_code == 422, bad
        assert response.json()["type"] == problem_type("invalid-request")
        assert response.json()["errors"][0]["location"] == ["header", "idempotency-key"]
    assert (api.case_count(), api.inbox_count()) == (cases_before, inbox_before)


def test_concurrent_repeats_create_exactly_one_case(api: Api) -> None:
    envelope, key = hund_envelope(), new_key()
    cases_before, inbox_before = api.case_count(), api.inbox_count()
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: api.submit(envelope, key=key), range(8)))
    assert [r.status_code for r in responses] == [201] * 8
    assert len({r.json()["case_id"] for r in responses}) == 1
    assert sum("idempotent-replayed" not in r.headers for r in responses) == 1
    assert (api.case_count(), api.inbox_count()) == (cases_before + 1, inbox_before + 1)


def test_concurrent_submissions_get_distinct_gap_free_references(fresh_api: Api) -> None:
    api = fresh_api
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: api.submit(hund_envelope(), key=new_key()), range(12)))
    assert [r.status_code for r in responses] == [201] * 12
    year = dt.datetime.now(dt.UTC).year
    assert sorted(r.json()["reference"] for r in responses) == [f"TGH-{year}-{n:06d}" for n in range(1, 13)]
    assert api.case_count() == 12

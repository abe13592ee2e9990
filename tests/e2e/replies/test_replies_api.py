"""Replies over HTTP: POST /v1/cases/{id}/replies (JSON and multipart), the reply in the case,
documents, uploads, idempotency, post tasks and dead deliveries — and every refusal as a problem."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import OTHER_TENANT, PROBLEM_JSON, Api, hund_envelope, new_key, problem_type, running_gateway
from tests.integration.replies.conftest import Channels, install_fakes, pdf, sha512

EMAIL = {"kind": "email", "address": "erika@example.org"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, Channels]]:
    with running_gateway(tmp_path_factory.mktemp("replies"), delivery_max_attempts=2,
                         replies={"max_document_bytes": 4096}) as api:
        yield api, install_fakes(api.gw)


@pytest.fixture
def api(served: tuple[Api, Channels]) -> Api:
    return served[0]


@pytest.fixture
def fakes(served: tuple[Api, Channels]) -> Iterator[Channels]:
    channels = served[1]
    yield channels
    for channel in (channels.email, channels.postbox, channels.hybridmail, channels.xta):
        channel.mode = "ok"


def case_id(api: Api, **envelope: Any) -> str:
    return str(api.create_case(hund_envelope(**envelope))["case_id"])


def post_reply(api: Api, cid: str, reply: dict[str, Any], files: dict[str, bytes] | None = None,
               client: str = "fach", key: str | None = None) -> httpx.Response:
    headers = api.auth(client)
    if key:
        headers["Idempotency-Key"] = key
    if files is None:
        return api.http.post(f"/v1/cases/{cid}/replies", json=reply, headers=headers)
    parts: dict[str, Any] = {"reply": (None, json.dumps(reply), "application/json")}
    parts.update({name: (f"{name}.pdf", content, "application/pdf") for name, content in files.items()})
    return api.http.post(f"/v1/cases/{cid}/replies", files=parts, headers=headers)


def decision(**extra: Any) -> dict[str, Any]:
    return {"kind": "decision", "title": "Bescheid über die Hundesteuer", "text": "Anbei Ihr Bescheid.", **extra}


def problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["type"] == problem_type(slug), body
    return body


def test_a_decision_with_its_pdf_is_committed_delivered_and_shown_in_the_case(api: Api, fakes: Channels) -> None:
    cid = case_id(api, reply_channel=EMAIL)
    document = pdf("Bescheid Hundesteuer")
    response = post_reply(api, cid, decision(documents=[{"id": "bescheid", "filename": "Bescheid Hundesteuer.pdf"}]),
                          {"bescheid": document}, key=new_key())
    assert response.status_code == 201, response.text
    reply = response.json()
    assert response.headers["location"] == f"/v1/cases/{cid}/replies/{reply['id']}"
    assert [(d["channel"], d["state"]) for d in reply["deliveries"]] == [("email", "queued")]
    api.gw.worker.run_until_idle()
    case = api.case(cid)
    [shown] = case["replies"]
    assert (shown["id"], shown["kind"], shown["deliveries"][0]["state"]) == (reply["id"], "decision", "sent")
    assert [h["state"] for h in shown["deliveries"][0]["history"]] == ["queued", "sent"]
    assert case["reference"] and case["status"] == "received"  # still the case, with its replies added
    listed = api.get(f"/v1/cases/{cid}/replies").json()
    assert [r["id"] for r in listed] == [reply["id"]]
    download = api.get(f"/v1/cases/{cid}/replies/{reply['id']}/documents/bescheid")
    assert download.status_code == 200 and download.content == document
    assert download.headers["content-type"] == "application/pdf"
    events = api.get("/v1/events", params={"limit": 1000}).json()["items"]
    assert [e["type"] for e in events if e["subject"] == cid][-2:] == ["case.reply.queued", "case.reply.sent"]


def test_a_document_uploaded_first_is_named_by_its_sha512(api: Api, fakes: Channels) -> None:
    cid = case_id(api, reply_channel=EMAIL)
    document = pdf("vorab")
    uploaded = api.http.post("/v1/reply-documents", content=document,
                             headers=api.auth("fach", **{"Content-Type": "application/pdf"}))
    assert uploaded.status_code == 201 and uploaded.json() == {"sha512": sha512(document), "size": len(document)}
    reply = post_reply(api, cid, decision(documents=[{"id": "d1", "filename": "Bescheid.pdf",
                                                      "sha512": sha512(document)}]))
    assert reply.status_code == 201, reply.text
    assert reply.json()["documents"][0]["sha512"] == sha512(document)
    problem(api.http.post("/v1/reply-documents", content=b"plain text", headers=api.auth("fach")), 415,
            "unsupported-media-type")
    problem(api.http.post("/v1/reply-documents", content=document, headers=api.auth("portal")), 403, "forbidden")


def test_unknown_case_and_another_municipalitys_case_are_not_found(api: Api, fakes: Channels) -> None:
    problem(post_reply(api, "00000000-0000-0000-0000-000000000000", decision()), 404, "not-found")
    other = api.create_case(hund_envelope(tenant=OTHER_TENANT), client="other")["case_id"]
    problem(post_reply(api, other, decision()), 404, "not-found")
    problem(api.get(f"/v1/cases/{other}/replies"), 404, "not-found")
    problem(post_reply(api, case_id(api), decision(), client="portal"), 403, "forbidden")


def test_documents_that_are_not_pdfs_or_too_large_are_refused_and_nothing_is_kept(api: Api, fakes: Channels
                                                                                   ) -> None:
    cid = case_id(api, reply_channel=EMAIL)
    announced = decision(documents=[{"id": "d", "filename": "Bescheid.pdf"}])
    not_pdf = problem(post_reply(api, cid, announced, {"d": b"<html>Bescheid</html>"}), 415, "unsupported-media-type")
    assert not_pdf["document"] == "d"
    problem(post_reply(api, cid, announced, {"d": pdf("x" * 5000)}), 413, "payload-too-large")
    problem(post_reply(api, cid, decision(documents=[{"id": "d", "filename": "Bescheid.exe"}]), {"d": pdf()}),
            422, "invalid-request")
    assert api.get(f"/v1/cases/{cid}/replies").json() == []


def test_bad_replies_get_a_clear_problem(api: Api, fakes: Channels) -> None:
    cid = case_id(api, reply_channel=EMAIL)
    refused = problem(post_reply(api, cid, {"kind": "verdict", "title": "x"}), 422, "invalid-request")
    assert refused["errors"][0]["location"] == ["kind"] and "verdict" not in json.dumps(refused)
    problem(post_reply(api, cid, decision(title="zwei\nZeilen")), 422, "invalid-request")
    problem(post_reply(api, cid, decision(status="decided")), 422, "invalid-request")
    bad_json = api.http.post(f"/v1/cases/{cid}/replies", content=b"{", headers=api.auth(
        "fach", **{"Content-Type": "application/json"}))
    problem(bad_json, 400, "malformed-json")
    problem(api.http.post(f"/v1/cases/{cid}/replies", content=b"x", headers=api.auth(
        "fach", **{"Content-Type": "text/plain"})), 415, "unsupported-media-type")


def test_a_channel_the_case_does_not_allow_is_refused(api: Api, fakes: Channels) -> None:
    cid = case_id(api, reply_channel=EMAIL)
    not_in_catalog = problem(post_reply(api, cid, decision(channel="xta")), 422, "invalid-request")
    assert not_in_catalog["allowed"] == ["postbox", "email", "hybridmail"]
    problem(post_reply(api, cid, decision(channel="postbox")), 422, "invalid-request")  # no postbox handle
    gewerbe = api.create_case({"tenant": "150905350535", "service": "99050012104000", "form": "test-gewerbe",
                               "submitted_at": "2026-11-21T09:30:00+01:00", "reply_channel": EMAIL,
                               "data": {"betrieb": {"name": "Muster Holz GmbH"}, "taetigkeit": "Tischlerei"}},
                              session=api.citizen_session("substantiell"))
    notice = problem(post_reply(api, gewerbe["case_id"], {"kind": "notice", "title": "Hinweis", "channel": "email"}),
                     422, "invalid-request")
    assert notice["allowed"] == []  # this service sends notices through no channel


def test_the_same_reply_posted_twice_commits_once(api: Api, fakes: Channels) -> None:
    cid = case_id(api, reply_channel=EMAIL)
    key = new_key()
    first = post_reply(api, cid, decision(), key=key)
    again = post_reply(api, cid, decision(), key=key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["id"] == first.json()["id"] and again.headers["idempotent-replayed"] == "true"
    problem(post_reply(api, cid, decision(title="Anderer Bescheid"), key=key), 422, "idempotency-key-reused")
    assert len(api.get(f"/v1/cases/{cid}/replies").json()) == 1


def test_a_refusing_channel_shows_its_problem_on_the_case(api: Api, fakes: Channels) -> None:
    fakes.email.mode = "refuse"
    cid = case_id(api, reply_channel=EMAIL)
    assert post_reply(api, cid, decision()).status_code == 201
    api.gw.worker.run_until_idle()
    deliveries = api.case(cid)["replies"][0]["deliveries"]
    assert [(d["channel"], d["state"]) for d in deliveries] == [("email", "failed"), ("hybridmail", "sent")]
    assert deliveries[0]["problem"]["detail"] == "the channel refuses this reply"


def test_post_tasks_are_listed_and_closed(api: Api, fakes: Channels) -> None:
    fakes.hybridmail.mode = "refuse"
    cid = case_id(api)  # no electronic channel; the letter channel refuses
    reply = post_reply(api, cid, decision()).json()
    api.gw.worker.run_until_idle()
    tasks = api.get("/v1/post-tasks").json()
    [task] = [t for t in tasks if t["reply_id"] == reply["id"]]
    assert (task["state"], task["kind"], task["reason"]["failed"]) == ("open", "decision", ["hybridmail"])
    closed = api.http.post(f"/v1/post-tasks/{task['id']}", json={"state": "done", "note": "versandt"},
                           headers=api.auth("fach"))
    assert closed.status_code == 200 and closed.json()["state"] == "done"
    problem(api.http.post(f"/v1/post-tasks/{task['id']}", json={"state": "done"}, headers=api.auth("fach")),
            422, "invalid-request")
    assert api.case(cid)["replies"][0]["post_task"]["state"] == "done"


def test_a_dead_delivery_is_listed_for_the_admin_and_replayed(api: Api, fakes: Channels) -> None:
    fakes.email.mode = "down"
    cid = case_id(api, reply_channel=EMAIL)
    reply = post_reply(api, cid, decision()).json()
    for _ in range(100):
        api.gw.worker.run_once()
        if api.case(cid)["replies"][0]["deliveries"][0]["state"] == "dead":
            break
        time.sleep(0.06)  # past the test settings' backoff
    dead = api.get("/v1/admin/reply-deliveries", client="admin").json()
    [mine] = [d for d in dead if d["reply_id"] == reply["id"]]
    assert mine["channel"] == "email" and "recipient" not in mine
    assert mine["problem"]["type"] == problem_type("upstream-unavailable")
    problem(api.get("/v1/admin/reply-deliveries", client="fach"), 403, "forbidden")
    fakes.email.mode = "ok"
    replayed = api.http.post(f"/v1/admin/reply-deliveries/{mine['id']}/replay", headers=api.auth("admin"))
    assert replayed.json() == {"id": mine["id"], "state": "queued"}
    problem(api.http.post(f"/v1/admin/reply-deliveries/{mine['id']}/replay", headers=api.auth("admin")), 404,
            "not-found")
    api.gw.worker.run_until_idle()
    assert api.case(cid)["replies"][0]["deliveries"][0]["state"] == "sent"


def test_the_openapi_document_declares_the_reply_operations(api: Api, tmp_path: Path) -> None:
    paths = api.http.get("/openapi.json").json()["paths"]
    assert {"/v1/cases/{case_id}/replies", "/v1/reply-documents", "/v1/post-tasks",
            "/v1/admin/reply-deliveries"} <= set(paths)
    body = paths["/v1/cases/{case_id}/replies"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "multipart/form-data"}

"""The cases API over real HTTP: listing with filters and cursors, tenant isolation, the event
log, and status changes with optimistic concurrency, history and audit."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TENANT
from tests.e2e.conftest import (
    GEWERBE,
    HUND,
    OTHER_TENANT,
    PROBLEM_JSON,
    Api,
    gewerbe_envelope,
    hund_envelope,
    problem_type,
    running_gateway,
)

PERSONAL = ("Erika", "Mustermann", "Bello", "1980-02-29", "Muster Holz")
ACCOUNT = {"provider": "bundid", "pseudonym": "bpk2-pseudonym-4711", "trust_level": "substantiell"}


def _ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


def _all_pages(api: Api, client: str, **params: Any) -> tuple[list[str], int]:
    """Follows next_cursor to the end; returns the ids and the number of pages."""
    seen: list[str] = []
    pages = 0
    cursor: str | None = None
    while True:
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        response = api.get("/v1/cases", client, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        pages += 1
        seen.extend(_ids(page["items"]))
        cursor = page["next_cursor"]
        if cursor is None:
            return seen, pages
        assert pages < 50, "pagination does not end"


def _change(api: Api, case_id: str, client: str = "fach", if_match: str | None = None,
            **body: Any) -> Any:
    headers = api.auth(client, **({"If-Match": if_match} if if_match else {}))
    return api.http.post(f"/v1/cases/{case_id}/status", json=body, headers=headers)


# -- a known population for the list tests -----------------------------------------------------

@dataclass
class World:
    api: Api
    hund: list[str]          # the seven TGH dog cases, in submission order
    gewerbe: str
    zweite: list[str]        # the two cases of the second tenant
    in_progress: str
    order: list[str]         # every case, in submission order
    received_at: dict[str, dt.datetime]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with running_gateway(tmp_path_factory.mktemp("cases-world")) as api:
        order: list[str] = []
        received: dict[str, dt.datetime] = {}

        def make(envelope: dict[str, Any], client: str = "portal", session: str | None = None) -> str:
            body = api.create_case(envelope, client, session)
            order.append(body["case_id"])
            received[body["case_id"]] = dt.datetime.fromisoformat(body["received_at"])
            return str(body["case_id"])

        hund = [make(hund_envelope()) for _ in range(4)]
        zweite = [make(hund_envelope(tenant=OTHER_TENANT), "other")]
        gewerbe = make(gewerbe_envelope(), session=api.citizen_session(ACCOUNT["trust_level"], ACCOUNT["pseudonym"]))
        hund += [make(hund_envelope()) for _ in range(3)]
        zweite.append(make(hund_envelope(tenant=OTHER_TENANT), "other"))
        assert _change(api, hund[1], version=1, status="in_progress").status_code == 200
        yield World(api=api, hund=hund, gewerbe=gewerbe, zweite=zweite, in_progress=hund[1], order=order,
                    received_at=received)


def test_cursor_pagination_sees_every_case_once_in_order(world: World) -> None:
    seen, pages = _all_pages(world.api, "fach", service=HUND, tenant=TENANT, limit=3)
    assert seen == world.hund
    assert pages == 3
    first = world.api.get("/v1/cases", params={"service": HUND, "limit": 3}).json()
    assert len(first["items"]) == 3
    assert first["next_cursor"] is not None
    # the admin (no tenant restriction) walks all ten cases of both municipalities
    everything, pages = _all_pages(world.api, "reader", limit=3)
    assert everything == world.order
    assert len(set(everything)) == len(everything) == 10
    assert pages == 4


def test_list_filters_by_status(world: World) -> None:
    response = world.api.get("/v1/cases", params={"status": "in_progress"})
    assert response.status_code == 200
    assert _ids(response.json()["items"]) == [world.in_progress]
    received, _ = _all_pages(world.api, "fach", status="received")
    assert received == [c for c in world.order if c not in world.zweite and c != world.in_progress]
    assert _all_pages(world.api, "fach", status="closed") == ([], 1)


def test_list_filters_by_service(world: World) -> None:
    response = world.api.get("/v1/cases", params={"service": GEWERBE})
    assert response.status_code == 200
    [item] = response.json()["items"]
    assert item["id"] == world.gewerbe
    assert item["service"] == GEWERBE
    assert item["service_name"] == "Gewerbe anmelden (Test)"
    assert item["queue"] == "gewerbeamt"
    assert item["channel"] == "portal"
    assert item["tenant"] == TENANT
    assert item["status"] == "received"
    assert item["version"] == 1
    assert item["reference"].startswith("TGH-")
    assert set(item) == {"id", "reference", "tenant", "service", "service_name", "channel", "status", "queue",
                         "received_at", "version"}, "a summary carries no personal data"


def test_list_filters_by_tenant(world: World) -> None:
    assert _all_pages(world.api, "reader", tenant=OTHER_TENANT)[0] == world.zweite
    assert _all_pages(world.api, "reader", tenant=TENANT)[0] == [c for c in world.order if c not in world.zweite]
    # a client restricted to one municipality asking for another gets nothing, not an error
    foreign = world.api.get("/v1/cases", params={"tenant": OTHER_TENANT})
    assert foreign.status_code == 200
    assert foreign.json() == {"items": [], "next_cursor": None}


def test_list_filters_by_received_since(world: World) -> None:
    fifth = world.hund[4]
    since = world.received_at[fifth]
    expected = world.hund[4:]
    for notation in (since.isoformat(), since.isoformat().replace("+00:00", "Z"),
                     since.astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat()):
        seen, _ = _all_pages(world.api, "fach", received_since=notation)
        assert seen == expected, notation
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    assert _all_pages(world.api, "fach", received_since=future)[0] == []


def test_received_since_without_time_zone_is_refused(world: World) -> None:
    naive = world.received_at[world.hund[0]].replace(tzinfo=None).isoformat()
    response = world.api.get("/v1/cases", params={"received_since": naive})
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["type"] == problem_type("invalid-request")
    assert "time zone" in response.json()["detail"]


@pytest.mark.parametrize("params", [
    {"status": "bogus"}, {"service": "12345"}, {"tenant": "15090535053"}, {"limit": 0}, {"limit": 501},
    {"cursor": "not-a-cursor"}, {"cursor": "cC0x"}, {"received_since": "yesterday"},
], ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items()))
def test_invalid_list_parameters_are_refused(world: World, params: dict[str, Any]) -> None:
    response = world.api.get("/v1/cases", params=params)
    assert response.status_code == 422
    assert response.json()["type"] == problem_type("invalid-request")


def test_tenant_isolation(world: World) -> None:
    api = world.api
    seen, _ = _all_pages(api, "other", limit=3)
    assert seen == world.zweite, "the second municipality's client sees only its own cases"
    for item_client, tenant in (("other", TENANT), ("fach", OTHER_TENANT)):
        assert _all_pages(api, item_client, tenant=tenant)[0] == []
    foreign = api.get(f"/v1/cases/{world.hund[0]}", "other")
    missing = api.get("/v1/cases/00000000-0000-4000-8000-000000000000", "other")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["type"] == missing.json()["type"] == problem_type("not-found")
    assert foreign.json()["detail"] == missing.json()["detail"], "a foreign case looks like a missing one"
    assert api.get(f"/v1/cases/{world.hund[0]}/attachments/any", "other").status_code == 404
    assert api.get(f"/v1/cases/{world.zweite[0]}", "other").status_code == 200
    assert api.get(f"/v1/cases/{world.zweite[0]}", "fach").status_code == 404
    # the other municipality's case cannot be changed either, and stays unchanged
    refused = _change(api, world.zweite[0], version=1, status="in_progress")
    assert refused.status_code == 404
    assert api.case(world.zweite[0], "reader")["version"] == 1
    events = api.get("/v1/events", "other", params={"limit": 1000}).json()["items"]
    assert {e["data"]["tenant"] for e in events} == {OTHER_TENANT}
    assert {e["subject"] for e in events} == set(world.zweite)


def test_scopes_are_enforced(world: World) -> None:
    api = world.api
    portal = api.get("/v1/cases", "portal")
    assert portal.status_code == 403
    assert portal.json()["type"] == problem_type("forbidden")
    assert portal.json()["required_scope"] == "cases:read"
    assert api.get(f"/v1/cases/{world.hund[0]}", "portal").status_code == 403
    assert api.get("/v1/events", "portal").status_code == 403
    no_write = _change(api, world.zweite[1], client="other", version=1, status="in_progress")
    assert no_write.status_code == 403
    assert no_write.json()["required_scope"] == "cases:write"
    anonymous = api.http.get("/v1/cases")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert api.case(world.zweite[1], "reader")["version"] == 1


# -- events ----------------------------------------------------------------------------------

def test_events_cursor_paging(fresh_api: Api) -> None:
    api = fresh_api
    first_page = api.get("/v1/events").json()
    assert first_page["items"] == []
    created = [api.create_case()["case_id"] for _ in range(3)]
    assert _change(api, created[1], version=1, status="in_progress").status_code == 200

    page1 = api.get("/v1/events", params={"limit": 2}).json()
    page2 = api.get("/v1/events", params={"limit": 2, "after": page1["next"]}).json()
    page3 = api.get("/v1/events", params={"limit": 2, "after": page2["next"]}).json()
    events = page1["items"] + page2["items"]
    assert [e["type"] for e in events] == ["case.received"] * 3 + ["case.status_changed"]
    assert [e["subject"] for e in events] == [*created, created[1]]
    assert len({e["id"] for e in events}) == 4
    assert page3 == {"items": [], "next": page2["next"]}, "an exhausted log keeps its position"
    assert events[3]["data"]["previous_status"] == "received"
    assert events[3]["data"]["status"] == "in_progress"
    assert events[3]["data"]["version"] == 2
    for event in events:
        assert event["specversion"] == "1.0"
        assert event["source"] == f"urn:rathaus-gateway:tenant:{TENANT}"
        assert not any(p in json.dumps(event) for p in PERSONAL)
    # a later event appears after the remembered cursor, and only it
    newest = api.create_case()["case_id"]
    later = api.get("/v1/events", params={"after": page2["next"]}).json()
    assert [(e["type"], e["subject"]) for e in later["items"]] == [("case.received", newest)]
    assert api.get("/v1/events", params={"after": "@@@"}).status_code == 422
    assert api.get("/v1/events", "other").json()["items"] == []


# -- status changes ----------------------------------------------------------------------------

def test_status_lifecycle_with_etag_and_body_version(api: Api) -> None:
    case_id = api.create_case()["case_id"]
    read = api.get(f"/v1/cases/{case_id}")
    assert read.headers["etag"] == f'"{case_id}-v1"'

    started = _change(api, case_id, if_match=read.headers["etag"], status="in_progress", note="Prüfung begonnen")
    assert started.status_code == 200, started.text
    assert started.json()["status"] == "in_progress"
    assert started.json()["version"] == 2
    assert started.headers["etag"] == f'"{case_id}-v2"'

    decided = _change(api, case_id, version=2, status="decided", decision="approved")
    assert decided.status_code == 200, decided.text
    assert (decided.json()["status"], decided.json()["decision"], decided.json()["version"]) == \
        ("decided", "approved", 3)

    closed = _change(api, case_id, if_match=f'W/"{case_id}-v3"', status="closed")
    assert closed.status_code == 200, closed.text
    case = api.case(case_id)
    assert (case["status"], case["decision"], case["version"]) == ("closed", "approved", 4)
    history = [(h["status"], h["decision"], h["by"], h["note"]) for h in case["status_history"]]
    assert history == [("received", None, "channel:portal", None),
                       ("in_progress", None, "client:fach", "Prüfung begonnen"),
                       ("decided", "approved", "client:fach", None),
                       ("closed", None, "client:fach", None)]
    times = [dt.datetime.fromisoformat(h["at"]) for h in case["status_history"]]
    assert times == sorted(times)
    assert api.get(f"/v1/cases/{case_id}").headers["etag"] == f'"{case_id}-v4"'
    # closed is final
    final = _change(api, case_id, version=4, status="withdrawn")
    assert final.status_code == 422
    assert final.json()["allowed"] == []


def test_stale_version_is_a_conflict(api: Api) -> None:
    case_id = api.create_case()["case_id"]
    assert _change(api, case_id, version=1, status="in_progress").status_code == 200
    # a stale body version is a conflict; a stale If-Match a failed precondition (RFC 9110 13.1.1)
    for stale, status, slug in (({"version": 1}, 409, "conflict"),
                                ({"if_match": f'"{case_id}-v1"'}, 412, "precondition-failed")):
        response = _change(api, case_id, status="decided", decision="rejected", **stale)
        assert response.status_code == status
        assert response.headers["content-type"] == PROBLEM_JSON
        assert response.json()["type"] == problem_type(slug)
        assert response.json()["current_version"] == 2
    future = _change(api, case_id, version=7, status="decided", decision="rejected")
    assert future.status_code == 409
    case = api.case(case_id)
    assert (case["status"], case["version"], case["decision"]) == ("in_progress", 2, None)
    assert len(case["status_history"]) == 2


def test_if_match_wins_over_body_version(api: Api) -> None:
    case_id = api.create_case()["case_id"]
    stale_header = _change(api, case_id, if_match=f'"{case_id}-v5"', version=1, status="in_progress")
    assert stale_header.status_code == 412
    good_header = _change(api, case_id, if_match=f'"{case_id}-v1"', version=5, status="in_progress")
    assert good_header.status_code == 200
    assert good_header.json()["version"] == 2


def test_if_match_of_another_case_does_not_match(api: Api) -> None:
    """An ETag names one representation of one case: another case's ETag is no precondition
    for this one, even when both happen to be at the same version."""
    target, other = api.create_case()["case_id"], api.create_case()["case_id"]
    foreign_etag = api.get(f"/v1/cases/{other}").headers["etag"]
    assert foreign_etag == f'"{other}-v1"'
    response = _change(api, target, if_match=foreign_etag, status="in_progress")
    assert response.status_code == 412, response.text
    assert response.json()["type"] == problem_type("precondition-failed")
    assert api.case(target)["version"] == 1
    assert api.case(other)["version"] == 1


def test_invalid_transition_is_refused(api: Api) -> None:
    case_id = api.create_case()["case_id"]
    response = _change(api, case_id, version=1, status="closed")
    assert response.status_code == 422
    assert response.json()["type"] == problem_type("invalid-request")
    assert response.json()["current_status"] == "received"
    assert response.json()["allowed"] == ["in_progress", "withdrawn"]
    withdrawn = _change(api, case_id, version=1, status="withdrawn", note="vom Antragsteller zurückgezogen")
    assert withdrawn.status_code == 200
    again = _change(api, case_id, version=2, status="in_progress")
    assert again.status_code == 422
    case = api.case(case_id)
    assert (case["status"], case["version"]) == ("withdrawn", 2)


def test_decision_rules(api: Api) -> None:
    case_id = api.create_case()["case_id"]
    early = _change(api, case_id, version=1, status="in_progress", decision="approved")
    assert early.status_code == 422
    assert early.json()["type"] == problem_type("invalid-request")
    assert _change(api, case_id, version=1, status="in_progress").status_code == 200
    undecided = _change(api, case_id, version=2, status="decided")
    assert undecided.status_code == 422
    assert undecided.json()["type"] == problem_type("invalid-request")
    assert "decision" in undecided.json()["detail"]
    unknown = _change(api, case_id, version=2, status="decided", decision="maybe")
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["location"] == ["body", "decision"]
    case = api.case(case_id)
    assert (case["status"], case["version"], case["decision"]) == ("in_progress", 2, None)


def test_version_is_required(api: Api) -> None:
    case_id = api.create_case()["case_id"]
    missing = _change(api, case_id, status="in_progress")
    assert missing.status_code == 422
    assert missing.json()["type"] == problem_type("invalid-request")
    assert "version" in missing.json()["detail"]
    for bad in ('"v1"', f"{case_id}-v1", f'"{case_id}-1"', "*"):
        response = _change(api, case_id, if_match=bad, status="in_progress")
        assert response.status_code == 422, bad
        assert response.json()["type"] == problem_type("invalid-request")
    assert _change(api, case_id, version=0, status="in_progress").status_code == 422
    assert api.case(case_id)["version"] == 1


@pytest.mark.parametrize("body", [
    {"status": "received", "version": 1},
    {"status": "in_progress", "version": 1, "assignee": "Frau Schulze"},
    {"status": "in_progress", "version": "eins"},
    {"version": 1},
    {"status": "in_progress", "version": 1, "note": "x" * 4001},
], ids=["status-not-settable", "unknown-member", "version-type", "no-status", "note-too-long"])
def test_invalid_status_bodies_are_refused(api: Api, body: dict[str, Any]) -> None:
    case_id = api.create_case()["case_id"]
    response = api.http.post(f"/v1/cases/{case_id}/status", json=body, headers=api.auth("fach"))
    assert response.status_code == 422
    assert response.json()["type"] == problem_type("invalid-request")
    assert "Frau Schulze" not in response.text, "the problem does not echo the input"
    assert api.case(case_id)["version"] == 1


def test_malformed_status_body(api: Api) -> None:
    case_id = api.create_case()["case_id"]
    response = api.http.post(f"/v1/cases/{case_id}/status", content=b'{"status": "in_progress",',
                             headers=api.auth("fach", **{"content-type": "application/json"}))
    assert response.status_code == 400
    assert response.json()["type"] == problem_type("malformed-json")
    assert api.case(case_id)["version"] == 1


def test_unknown_case_status_change_is_404(api: Api) -> None:
    response = _change(api, "00000000-0000-4000-8000-000000000000", version=1, status="in_progress")
    assert response.status_code == 404
    assert response.json()["type"] == problem_type("not-found")


def test_history_events_and_audit_without_personal_data(tmp_path: Path) -> None:
    with running_gateway(tmp_path / "gw") as api:
        created = api.create_case()
        case_id = created["case_id"]
        assert _change(api, case_id, version=1, status="in_progress",
                       note="Rückruf von Erika Mustermann erbeten").status_code == 200
        assert _change(api, case_id, version=2, status="decided", decision="approved").status_code == 200
        assert _change(api, case_id, version=3, status="closed").status_code == 200

        audit = api.audit_rows(case_id=case_id)
        assert [(a["actor"], a["action"]) for a in audit] == [
            ("channel:portal", "case.created"), ("client:fach", "case.status"), ("client:fach", "case.status"),
            ("client:fach", "case.status")]
        details = audit[0]["details"]
        assert details.pop("source_id").startswith("idem:portal:") and details.pop("size") > 0
        assert details == {"reference": created["reference"], "service": HUND, "mapping": "portal.test-hund",
                           "warnings": 0}
        assert [a["details"] for a in audit[1:]] == [
            {"from": "received", "to": "in_progress", "decision": None, "version": 2},
            {"from": "in_progress", "to": "decided", "decision": "approved", "version": 3},
            {"from": "decided", "to": "closed", "decision": None, "version": 4}]
        assert all(a["tenant_ars"] == TENANT for a in audit)
        inbox_id = audit[0]["inbox_id"]
        assert inbox_id and api.audit_rows(inbox_id=inbox_id, action="received") == [], \
            "inline intake records receipt and case creation in one audit entry"

        everything = json.dumps([{k: str(v) for k, v in row.items()} for row in api.audit_rows()])
        for personal in (*PERSONAL, "Rückruf"):
            assert personal not in everything, f"audit contains {personal!r}"

        types = [(e["type"], e["data"]["status"]) for e in api.get("/v1/events").json()["items"]
                 if e["subject"] == case_id]
        assert types == [("case.received", "received"), ("case.status_changed", "in_progress"),
                         ("case.status_changed", "decided"), ("case.status_changed", "closed")]
        assert api.case(case_id)["status_history"][1]["note"] == "Rückruf von Erika Mustermann erbeten"

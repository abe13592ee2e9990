"""SET checks for every event type of the event log: claims, and the details each type carries."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from adapters.fitconnect import jose
from adapters.fitconnect.events import EVENT_BASE, SET_PAYLOAD_SCHEMA, parse_claims

SUB, CASE = str(uuid.uuid4()), str(uuid.uuid4())
TAGS = {"authenticationTags": {"metadata": "m", "data": "d", "attachments": {str(uuid.uuid4()): "a"}}}
PROBLEMS = {"problems": [{"type": "https://schema.fitko.de/fit-connect/events/problems/hash-mismatch",
                          "title": "Prüfsumme stimmt nicht", "detail": "x", "instance": "data"}]}
VALID = {
    "create-submission": {}, "submit-submission": TAGS, "notify-submission": TAGS, "forward-submission": {},
    "delete-submission": {}, "accept-submission": TAGS, "reject-submission": PROBLEMS,
}


def claims(name: str, details: Any, **changes: Any) -> dict[str, Any]:
    value = {"$schema": SET_PAYLOAD_SCHEMA, "jti": str(uuid.uuid4()), "iss": "https://zustelldienst.example",
             "iat": 1_700_000_000, "sub": f"submission:{SUB}", "txn": f"case:{CASE}",
             "events": {EVENT_BASE + name: details}}
    value.update(changes)
    return value


@pytest.mark.parametrize("name", sorted(VALID))
def test_every_event_type_the_delivery_service_writes_is_understood(name: str) -> None:
    event = parse_claims(claims(name, VALID[name]), "t")
    assert (event.name, event.submission_id, event.case_id) == (name, SUB, CASE)


@pytest.mark.parametrize(("name", "details"), [
    ("submit-submission", {}),
    ("notify-submission", {"authenticationTags": {"data": "d"}}),
    ("accept-submission", {"authenticationTags": {"metadata": "m", "attachments": {"a": 1}}}),
    ("reject-submission", {"problems": []}),
    ("reject-submission", {"problems": [{"type": "x"}]}),
    ("create-submission", []),
    ("unknown-event", {}),
])
def test_details_must_fit_the_event_type(name: str, details: Any) -> None:
    with pytest.raises(jose.JoseFailure):
        parse_claims(claims(name, details), "t")


@pytest.mark.parametrize("changes", [
    {"jti": "1"}, {"iat": True}, {"iat": "1700000000"}, {"sub": "submission:x"}, {"txn": f"vorgang:{CASE}"},
    {"$schema": "https://example.org/set-payload.schema.json"}, {"iss": None},
    {"events": {EVENT_BASE + "create-submission": {}, EVENT_BASE + "forward-submission": {}}},
    {"events": {"https://example.org/events/create-submission": {}}},
])
def test_claims_are_checked_for_every_type(changes: dict[str, Any]) -> None:
    with pytest.raises(jose.JoseFailure):
        parse_claims(claims("create-submission", {}, **changes), "t")

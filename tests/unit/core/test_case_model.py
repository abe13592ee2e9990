from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from pydantic import ValidationError

from gateway.case import schema_export
from gateway.case.lifecycle import transition
from gateway.case.model import (
    Applicant,
    Case,
    CaseStatus,
    Decision,
    NaturalPerson,
    OriginalPayload,
    ServiceRef,
    SourceReference,
    StatusChange,
    TenantRef,
)
from gateway.errors import InvalidRequest

NOW = dt.datetime(2026, 11, 21, 10, 0, tzinfo=dt.UTC)


def a_case(**overrides: object) -> Case:
    values: dict[str, object] = dict(
        id=uuid.uuid4(), reference="TGH-2026-000001",
        tenant=TenantRef(ars="150905350535", name="Tangerhütte"),
        service=ServiceRef(leika="99050012104000", name="Gewerbe anmelden", mapping_id="m", mapping_version=1),
        source=SourceReference(channel="portal", id="r1"), received_at=NOW, routing_queue="gewerbeamt",
        applicant=Applicant(party=NaturalPerson(given_names="Erika", family_name="Mustermann")), form=[],
        status_history=[StatusChange(status=CaseStatus.RECEIVED, at=NOW, by="channel:portal")],
        original=OriginalPayload(storage_key="sha512/" + "a" * 128, sha512="a" * 128, media_type="application/json",
                                 size=10),
    )
    values.update(overrides)
    return Case.model_validate(values)


def test_committed_schema_matches_the_model() -> None:
    committed = json.loads(schema_export.SCHEMA_PATH.read_text(encoding="utf-8"))
    assert committed == json.loads(schema_export.render()), "run `rathaus-gateway schema export`"
    assert committed["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("field,value", [
    ("reference", "TGH-26-1"), ("tenant", {"ars": "1509", "name": "x"}),
    ("service", {"leika": "12050012104000", "name": "x", "mapping_id": "m", "mapping_version": 1}),
])
def test_identifiers_are_validated(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        a_case(**{field: value})


def test_unknown_members_are_refused() -> None:
    with pytest.raises(ValidationError):
        a_case(colour="blue")


def test_lifecycle_happy_path_keeps_full_history() -> None:
    case = a_case()
    case = transition(case, CaseStatus.IN_PROGRESS, decision=None, note="übernommen", by="sb1", at=NOW)
    case = transition(case, CaseStatus.DECIDED, decision=Decision.APPROVED, note=None, by="sb1", at=NOW)
    case = transition(case, CaseStatus.CLOSED, decision=None, note=None, by="sb1", at=NOW)
    assert [h.status for h in case.status_history] == [
        CaseStatus.RECEIVED, CaseStatus.IN_PROGRESS, CaseStatus.DECIDED, CaseStatus.CLOSED]
    assert case.decision is Decision.APPROVED
    assert case.version == 4


@pytest.mark.parametrize("start,to,decision", [
    (CaseStatus.RECEIVED, CaseStatus.DECIDED, Decision.APPROVED),
    (CaseStatus.RECEIVED, CaseStatus.CLOSED, None),
    (CaseStatus.IN_PROGRESS, CaseStatus.DECIDED, None),
    (CaseStatus.IN_PROGRESS, CaseStatus.WITHDRAWN, Decision.REJECTED),
    (CaseStatus.CLOSED, CaseStatus.IN_PROGRESS, None),
])
def test_lifecycle_refuses_invalid_transitions(start: CaseStatus, to: CaseStatus, decision: Decision | None) -> None:
    with pytest.raises(InvalidRequest):
        transition(a_case(status=start), to, decision=decision, note=None, by="x", at=NOW)

"""A case built in memory, for unit tests of code that reads cases (reply channels, routing)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from gateway.case.model import (
    Applicant,
    Case,
    CaseStatus,
    NaturalPerson,
    OriginalPayload,
    ServiceRef,
    SourceReference,
    StatusChange,
    TenantRef,
)

NOW = dt.datetime(2026, 11, 21, 10, 0, tzinfo=dt.UTC)


def a_case(**overrides: Any) -> Case:
    values: dict[str, Any] = dict(
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

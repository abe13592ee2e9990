"""Assembles the case from the verified submission, its route and the mapping's output."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from gateway.case.model import (
    Applicant,
    Case,
    CaseStatus,
    OriginalPayload,
    ServiceRef,
    SourceReference,
    StatusChange,
    TenantRef,
)
from gateway.catalog import Route
from gateway.intake.checkpoint import Verified
from gateway.store.inbox_repo import InboxRow


def build_case(*, row: InboxRow, verified: Verified, route: Route, mapping_version: int, mapped: Any,
               reference: str, now: dt.datetime, case_id: uuid.UUID) -> Case:
    channel = row.channel
    return Case(
        id=case_id,
        reference=reference,
        tenant=TenantRef(ars=route.tenant.ars, name=route.tenant.name),
        service=ServiceRef(leika=route.service.leika, name=route.service.name, mapping_id=route.mapping_id,
                           mapping_version=mapping_version),
        source=SourceReference(channel=channel, id=row.source_id, references={**row.references, **verified.references}),
        received_at=row.received_at,
        submitted_at=verified.submitted_at or mapped.submitted_at,
        routing_queue=route.service.queue,
        applicant=Applicant(party=mapped.party, account=verified.account, representative=mapped.representative),
        form=mapped.form,
        attachments=verified.attachments,
        payment=verified.payment or mapped.payment,
        reply_channel=verified.reply_channel or mapped.reply_channel,
        status=CaseStatus.RECEIVED,
        status_history=[StatusChange(status=CaseStatus.RECEIVED, at=now, by=f"channel:{channel}")],
        warnings=mapped.warnings,
        original=OriginalPayload(storage_key=row.raw_key, sha512=row.raw_sha512, media_type=row.media_type,
                                 size=row.raw_size),
    )

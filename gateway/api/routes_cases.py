"""Cases for local processing: list, read, attachments, status changes, forwarding."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from gateway.api import cursor
from gateway.api.deps import GatewayDep, PrincipalDep
from gateway.api.responses import Forwarding, ForwardingQueued
from gateway.case.model import Case, CaseStatus, Decision
from gateway.errors import Conflict, InvalidRequest, NotFound, PreconditionFailed
from gateway.replies.views import CaseView
from gateway.store import case_repo

router = APIRouter(prefix="/v1/cases", tags=["cases"])


class CaseSummary(BaseModel):
    id: str
    reference: str
    tenant: str
    service: str
    service_name: str
    channel: str
    status: CaseStatus
    queue: str
    received_at: dt.datetime
    version: int


class CasePage(BaseModel):
    items: list[CaseSummary]
    next_cursor: str | None


class StatusChangeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["in_progress", "decided", "closed", "withdrawn"]
    decision: Decision | None = None
    note: str | None = Field(default=None, max_length=4000)
    version: int | None = Field(default=None, ge=1, description="or send If-Match with the ETag")


class ForwardRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: str = Field(pattern=r"^[a-z][a-z0-9_-]{1,31}$")
    target: str = Field(min_length=1, max_length=255)


def etag(case: Case) -> str:
    return f'"{case.id}-v{case.version}"'


def _summary(case: Case) -> CaseSummary:
    return CaseSummary(id=str(case.id), reference=case.reference, tenant=case.tenant.ars,
                       service=case.service.leika, service_name=case.service.name, channel=case.source.channel,
                       status=case.status, queue=case.routing_queue, received_at=case.received_at,
                       version=case.version)


@router.get("", response_model=CasePage)
def list_cases(gateway: GatewayDep, principal: PrincipalDep,
               status: CaseStatus | None = None,
               service: Annotated[str | None, Query(pattern=r"^99[0-9]{12}$")] = None,
               tenant: Annotated[str | None, Query(pattern=r"^[0-9]{12}$")] = None,
               received_since: dt.datetime | None = None,
               limit: Annotated[int, Query(ge=1, le=500)] = 50,
               after: Annotated[str | None, Query(alias="cursor")] = None) -> CasePage:
    principal.require("cases:read")
    tenants = principal.tenants
    if tenant is not None:
        if not principal.may_act_for(tenant):
            return CasePage(items=[], next_cursor=None)
        tenants = [tenant]
    if received_since is not None:
        if received_since.tzinfo is None:
            raise InvalidRequest("received_since needs a time zone (e.g. 2026-11-21T00:00:00Z)")
        try:
            received_since = received_since.astimezone(dt.UTC)
        except OverflowError:  # e.g. 0001-01-01T00:00:00+14:00 lies before the first representable UTC time
            raise InvalidRequest("received_since is out of range") from None
    flt = case_repo.CaseFilter(tenants=tenants, status=status.value if status else None, service=service,
                               received_since=received_since, limit=limit)
    position = cursor.decode(after)
    with gateway.db.reading() as conn:
        flt = dataclasses.replace(flt, after=case_repo.case_position(conn, position.xid, position.seq))
        rows = case_repo.list_cases(conn, flt)
    next_cursor = cursor.encode(*rows[-1][0]) if len(rows) == limit else None
    return CasePage(items=[_summary(c) for _, c in rows], next_cursor=next_cursor)


@router.get("/{case_id}", response_model=CaseView)
def get_case(case_id: str, gateway: GatewayDep, principal: PrincipalDep, response: Response) -> CaseView:
    """The case, with the replies sent to its applicant and the state of each delivery."""
    principal.require("cases:read")
    case = gateway.cases.get(case_id, principal.tenants)
    response.headers["ETag"] = etag(case)
    return gateway.replies.case_view(case)


@router.get("/{case_id}/attachments/{attachment_id}", response_class=StreamingResponse, responses={
    200: {"description": "the attachment's bytes, with its media type", "content": {
        "*/*": {"schema": {"type": "string", "format": "binary"}}}}})
def get_attachment(case_id: str, attachment_id: str, gateway: GatewayDep,
                   principal: PrincipalDep) -> StreamingResponse:
    principal.require("cases:read")
    case = gateway.cases.get(case_id, principal.tenants)
    attachment = next((a for a in case.attachments if a.id == attachment_id), None)
    if attachment is None:
        raise NotFound("no such attachment")
    safe_name = re.sub(r"[^A-Za-z0-9._-]", "_", attachment.filename)
    return StreamingResponse(gateway.blobs.open(attachment.storage_key), media_type=attachment.media_type,
                             headers={"Content-Disposition": f'attachment; filename="{safe_name}"',
                                      "Digest": f"sha-512={attachment.sha512}",
                                      "X-Content-Type-Options": "nosniff"})


@router.post("/{case_id}/status", response_model=Case)
def change_status(case_id: str, body: StatusChangeRequest, gateway: GatewayDep, principal: PrincipalDep,
                  response: Response, if_match: Annotated[str | None, Header()] = None) -> Case:
    principal.require("cases:write")
    expected = body.version
    if if_match is not None:
        match = re.fullmatch(r'(?:W/)?"([0-9a-f-]{36})-v([0-9]+)"', if_match.strip())
        if not match:
            raise InvalidRequest("If-Match must be the ETag of the case")
        if match.group(1) != case_id:
            raise PreconditionFailed("If-Match names another case")
        expected = int(match.group(2))
    if expected is None:
        raise InvalidRequest("send the case version (body 'version' or If-Match) to change its status")
    try:
        case = gateway.cases.change_status(case_id, to=CaseStatus(body.status), decision=body.decision,
                                           note=body.note, expected_version=expected,
                                           actor=f"client:{principal.client_id}", tenants=principal.tenants)
    except Conflict as exc:
        if if_match is None:
            raise
        # a conditional request whose condition no longer holds (RFC 9110 13.1.1)
        raise PreconditionFailed(exc.detail, **exc.extensions) from None
    response.headers["ETag"] = etag(case)
    return case


@router.post("/{case_id}/forwardings", status_code=202, response_model=ForwardingQueued)
def forward(case_id: str, body: ForwardRequest, gateway: GatewayDep, principal: PrincipalDep) -> dict[str, Any]:
    principal.require("cases:write")
    if body.channel not in gateway.adapters.senders:
        raise InvalidRequest(f"no sender is configured for channel {body.channel!r}",
                             channels=list(gateway.adapters.senders))
    gateway.cases.forward(case_id, channel=body.channel, target=body.target,
                          actor=f"client:{principal.client_id}", tenants=principal.tenants)
    return {"case_id": case_id, "channel": body.channel, "target": body.target, "status": "queued"}


@router.get("/{case_id}/forwardings", response_model=list[Forwarding])
def forwardings(case_id: str, gateway: GatewayDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    principal.require("cases:read")
    return [{"channel": f["channel"], "target": f["target"], "remote_id": f["remote_id"], "status": f["status"],
             "updated_at": f["updated_at"].isoformat()} for f in gateway.cases.forwardings(case_id, principal.tenants)]

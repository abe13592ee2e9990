"""HTTP endpoints of the portal channel: submit an application, upload an attachment first."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from typing import Annotated, Any

import anyio
import anyio.to_thread
import orjson
from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile

from adapters.portal.channel import CHANNEL, UPLOADS, parse_envelope, upload_key
from adapters.portal.envelope import PortalApplication
from gateway.api.deps import GatewayDep, PrincipalDep
from gateway.errors import (
    Forbidden,
    InvalidPayload,
    InvalidRequest,
    MalformedRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from gateway.identity import CitizenSessionInvalid
from gateway.ports import InboundMessage, Outcome
from gateway.sessions import CitizenSession, session_issuer

router = APIRouter(prefix="/v1", tags=["portal"])
_SLOTS: list[anyio.CapacityLimiter] = []


def _intake_slots() -> anyio.CapacityLimiter:
    """A few intake threads per process, waited for in FIFO order: the database takes one
    writer at a time anyway, and dozens of threads would only fight over the GIL and the
    write lock while new requests overtake old ones (long tails)."""
    if not _SLOTS:
        _SLOTS.append(anyio.CapacityLimiter(4))
    return _SLOTS[0]
IDEMPOTENCY_KEY = r"^[A-Za-z0-9._:-]{8,255}$"
SESSION_HEADER = "Citizen-Session"


def _citizen_session(gateway: Any, token: str) -> CitizenSession:
    issuer = session_issuer(token)
    if issuer is None or issuer not in gateway.adapters.sessions:
        raise CitizenSessionInvalid("the citizen session token is invalid")
    session: CitizenSession = gateway.adapters.sessions.get(issuer).verify(token)
    return session


def _with_applicant(raw: bytes, envelope: PortalApplication, session: CitizenSession | None
                    ) -> tuple[bytes, PortalApplication]:
    """The applicant's identity, trust level and postbox handle come from the citizen session,
    never from the application: an envelope that names an account itself is refused, and the
    session's account is written into the stored original (so the audit shows what was used)."""
    if envelope.account is not None:
        raise InvalidRequest(f"the applicant's account comes from the citizen session ({SESSION_HEADER} header), "
                             "not from the application")
    if session is None:
        return raw, envelope
    if session.identity.tenant_ars != envelope.tenant:
        raise Forbidden("the citizen session belongs to another municipality")
    document = json.loads(raw)
    document["account"] = session.identity.account().model_dump(mode="json", exclude_none=True)
    raw = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    return raw, parse_envelope(raw)


def _case_created(outcome: Outcome, replayed: bool) -> JSONResponse:
    case = outcome.case
    assert case is not None
    body = {"case_id": str(case.id), "reference": case.reference, "status": case.status.value,
            "tenant": case.tenant.ars, "service": case.service.leika, "received_at": case.received_at.isoformat(),
            "warnings": [w.model_dump() for w in case.warnings]}
    headers = {"Location": f"/v1/cases/{case.id}"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(body, status_code=201, headers=headers)


def _answer(outcome: Outcome, replayed: bool) -> JSONResponse:
    if outcome.state in ("committed", "acknowledged"):
        return _case_created(outcome, replayed)
    if outcome.state in ("quarantined", "dead") and outcome.error:
        # a dead letter is final too: the portal gets the reason instead of "processing" forever
        problem: dict[str, Any] = {**outcome.error, "inbox_id": outcome.inbox_id}
        return JSONResponse(problem, status_code=int(problem.get("status") or 500),
                            media_type="application/problem+json")
    # transient trouble: the worker finishes it; the portal may poll with the same key
    return JSONResponse({"inbox_id": outcome.inbox_id, "status": outcome.state}, status_code=202)


async def _read_submission(request: Request, max_attachment: int, gateway: Any, client_id: str
                           ) -> tuple[bytes, PortalApplication]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        raw = await request.body()
        try:
            orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise MalformedRequest("the request body is not valid JSON") from None
        return raw, parse_envelope(raw)
    if content_type == "multipart/form-data":
        form = await request.form(max_files=50, max_fields=60, max_part_size=max_attachment)
        part = form.get("application")
        if part is None:
            raise InvalidRequest("multipart request needs a part named 'application' with the JSON envelope")
        raw = await part.read() if isinstance(part, UploadFile) else part.encode()
        envelope = parse_envelope(raw)
        declared = {a.id: a for a in envelope.attachments}
        for name, value in form.multi_items():
            if name == "application":
                continue
            if not isinstance(value, UploadFile) or name not in declared:
                raise InvalidRequest(f"part {name!r} is not an attachment announced in the envelope")
            content = await value.read()
            if len(content) > max_attachment:
                raise PayloadTooLarge(f"attachment {name!r} exceeds {max_attachment} bytes")
            if hashlib.sha512(content).hexdigest() != declared[name].sha512:
                raise InvalidPayload(f"attachment {name!r} does not match its declared SHA-512", attachment=name)
            gateway.blobs.put(content)
            gateway.state.put(UPLOADS, upload_key(client_id, declared[name].sha512), {"size": len(content)})
        return raw, envelope
    raise UnsupportedMediaType("send application/json or multipart/form-data",
                               accepted=["application/json", "multipart/form-data"])


@router.post("/applications", status_code=201, responses={201: {"description": "case created"},
                                                          202: {"description": "accepted, still processing"}})
async def submit_application(request: Request, gateway: GatewayDep, principal: PrincipalDep,
                             idempotency_key: Annotated[str | None, Header(pattern=IDEMPOTENCY_KEY)] = None,
                             citizen_session: Annotated[str | None, Header(alias=SESSION_HEADER)] = None
                             ) -> JSONResponse:
    """Submit an application on behalf of a citizen (JSON, or multipart with attachments). The
    applicant's account comes from the ``Citizen-Session`` header (a citizen login's session)."""
    principal.require("applications:submit")
    session = _citizen_session(gateway, citizen_session) if citizen_session else None
    raw, envelope = await _read_submission(request, gateway.settings.max_attachment_bytes, gateway,
                                           principal.client_id)
    raw, envelope = _with_applicant(raw, envelope, session)
    if len(envelope.attachments) > gateway.settings.max_attachments:
        raise InvalidRequest(f"at most {gateway.settings.max_attachments} attachments per application")
    if not principal.may_act_for(envelope.tenant):
        raise Forbidden("this client may not submit for that municipality")
    fingerprint = hashlib.sha256(raw).hexdigest()
    # source ids are per client: one portal's request id says nothing about another's
    if envelope.request_id:
        source_id = f"req:{principal.client_id}:{envelope.request_id}"
    elif idempotency_key:
        source_id = f"idem:{principal.client_id}:{idempotency_key}"
    else:
        source_id = f"anon:{uuid.uuid4()}"
    message = InboundMessage(channel=CHANNEL, source_id=source_id, payload=raw, media_type="application/json",
                             received_at=dt.datetime.now(dt.UTC), tenant_ars=envelope.tenant,
                             references={"form": envelope.form}, idempotency_key=idempotency_key,
                             client_id=principal.client_id)
    outcome = await anyio.to_thread.run_sync(gateway.submit_now, message, fingerprint, limiter=_intake_slots())
    answer = _answer(outcome, outcome.duplicate)
    if session is not None:  # each use resets the session's idle clock
        answer.headers[SESSION_HEADER] = gateway.adapters.sessions.get(session.issuer).refresh(session)
    return answer


@router.post("/uploads", status_code=201)
async def upload(request: Request, gateway: GatewayDep, principal: PrincipalDep) -> dict[str, Any]:
    """Upload an attachment before the application; reference it by its SHA-512 there."""
    principal.require("applications:submit")
    limit = gateway.settings.max_attachment_bytes
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"attachment exceeds {limit} bytes")
        chunks.append(chunk)
    if size == 0:
        raise InvalidRequest("empty upload")
    content = b"".join(chunks)
    key = gateway.blobs.put(content)
    digest = hashlib.sha512(content).hexdigest()
    gateway.state.put(UPLOADS, upload_key(principal.client_id, digest), {"size": size})
    return {"upload_id": key, "sha512": digest, "size": size}

"""HTTP endpoints of the portal channel: submit an application, upload an attachment first."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Iterator
from typing import Annotated, Any

import anyio
import anyio.to_thread
import orjson
from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from adapters.portal import refusal_budget
from adapters.portal.channel import CHANNEL, PortalChannel
from adapters.portal.envelope import PortalApplication
from adapters.portal.uploads import release, store_upload
from gateway.api.auth import Principal
from gateway.api.deps import GatewayDep, PrincipalDep
from gateway.errors import (
    PROBLEM_BASE,
    Forbidden,
    GatewayError,
    InvalidPayload,
    InvalidRequest,
    MalformedRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from gateway.identity import CitizenSessionInvalid
from gateway.ports import InboundMessage, Outcome, ProvisionalBlob
from gateway.sessions import CitizenSession, session_issuer
from gateway.store import rejections

router = APIRouter(prefix="/v1", tags=["portal"])
_SLOTS: list[anyio.CapacityLimiter] = []


def _intake_slots() -> anyio.CapacityLimiter:
    """A few intake threads per process, waited for in FIFO order: the database takes one
    writer at a time anyway, and dozens of threads would only fight over the GIL and the
    write lock while new requests overtake old ones (long tails)."""
    if not _SLOTS:
        _SLOTS.append(anyio.CapacityLimiter(4))
    return _SLOTS[0]
CHUNK = 1024 * 1024
IDEMPOTENCY_KEY = r"^[A-Za-z0-9._:-]{8,255}$"
SESSION_HEADER = "Citizen-Session"


def _citizen_session(gateway: Any, token: str) -> CitizenSession:
    issuer = session_issuer(token)
    if issuer is None or issuer not in gateway.adapters.sessions:
        raise CitizenSessionInvalid("the citizen session token is invalid")
    session: CitizenSession = gateway.adapters.sessions.get(issuer).verify(token)
    return session


def _with_applicant(gateway: Any, raw: bytes, envelope: PortalApplication, session: CitizenSession | None
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
    return raw, _channel(gateway).parse(raw)


def _channel(gateway: Any) -> PortalChannel:
    channel: PortalChannel = gateway.adapters.channels.get(CHANNEL)
    return channel


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
    if outcome.state == "refused" and outcome.error:  # nothing kept, so no inbox id to name
        return JSONResponse(outcome.error, status_code=int(str(outcome.error.get("status") or 422)),
                            media_type="application/problem+json")
    if outcome.state in ("quarantined", "dead") and outcome.error:
        # a dead letter is final too: the portal gets the reason instead of "processing" forever
        problem: dict[str, Any] = {**outcome.error, "inbox_id": outcome.inbox_id}
        return JSONResponse(problem, status_code=int(problem.get("status") or 500),
                            media_type="application/problem+json")
    # transient trouble: the worker finishes it; the portal may poll with the same key
    return JSONResponse({"inbox_id": outcome.inbox_id, "status": outcome.state}, status_code=202)


async def _read_submission(request: Request, max_attachment: int, gateway: Any
                           ) -> tuple[bytes, PortalApplication, list[tuple[str, UploadFile]]]:
    """The raw envelope, the parsed envelope and the attachment parts (multipart), each part
    checked against its announcement — read, not stored: that waits for the tenant check. The
    parser keeps each part in a temporary file (beyond 1 MB), which is read in chunks here. The
    bytes read so far are in ``request.state.body_bytes`` (a refusal counts them)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        raw = await request.body()
        request.state.body_bytes = len(raw)
        try:
            _note_tenant(request, orjson.loads(raw))
        except orjson.JSONDecodeError:
            raise MalformedRequest("the request body is not valid JSON") from None
        return raw, _channel(gateway).parse(raw), []
    if content_type == "multipart/form-data":
        form = await request.form(max_files=50, max_fields=60, max_part_size=max_attachment)
        part = form.get("application")
        if part is None:
            raise InvalidRequest("multipart request needs a part named 'application' with the JSON envelope")
        raw = await part.read() if isinstance(part, UploadFile) else part.encode()
        request.state.body_bytes = len(raw)
        with contextlib.suppress(orjson.JSONDecodeError):
            _note_tenant(request, orjson.loads(raw))
        envelope = _channel(gateway).parse(raw)
        declared = {a.id: a for a in envelope.attachments}
        parts: list[tuple[str, UploadFile]] = []
        for name, value in form.multi_items():
            if name == "application":
                continue
            if not isinstance(value, UploadFile) or name not in declared:
                raise InvalidRequest(f"part {name!r} is not an attachment announced in the envelope")
            size = value.size if value.size is not None else 0
            request.state.body_bytes += size
            if size > max_attachment:
                raise PayloadTooLarge(f"attachment {name!r} exceeds {max_attachment} bytes")
            digest = hashlib.sha512()
            await value.seek(0)
            while chunk := await value.read(CHUNK):
                digest.update(chunk)
            if not hmac.compare_digest(digest.hexdigest().encode(), declared[name].sha512.encode()):
                raise InvalidPayload(f"attachment {name!r} does not match its declared SHA-512", attachment=name)
            parts.append((declared[name].sha512, value))
        return raw, envelope, parts
    raise UnsupportedMediaType("send application/json or multipart/form-data",
                               accepted=["application/json", "multipart/form-data"])


class CaseWarning(BaseModel):
    code: str
    field: str | None = None
    message: str


class ApplicationCreated(BaseModel):
    case_id: str
    reference: str
    status: str
    tenant: str
    service: str
    received_at: str
    warnings: list[CaseWarning]


class ApplicationAccepted(BaseModel):
    inbox_id: str
    status: str


class UploadCreated(BaseModel):
    upload_id: str
    sha512: str
    size: int


_ENVELOPE_SCHEMA = PortalApplication.model_json_schema()
_APPLICATION_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": _ENVELOPE_SCHEMA},
    "multipart/form-data": {"schema": {
        "type": "object", "required": ["application"],
        "properties": {"application": {"type": "string", "description": "the JSON envelope"}},
        "additionalProperties": {"type": "string", "format": "binary",
                                 "description": "one part per announced attachment, named by its id"}}}}}}


@router.post("/applications", status_code=201, response_model=ApplicationCreated, openapi_extra=_APPLICATION_BODY,
             responses={202: {"model": ApplicationAccepted,
                              "description": "accepted, still processing (retry with the same Idempotency-Key)"}})
async def submit_application(request: Request, gateway: GatewayDep, principal: PrincipalDep,
                             idempotency_key: Annotated[str | None, Header(pattern=IDEMPOTENCY_KEY)] = None,
                             citizen_session: Annotated[str | None, Header(alias=SESSION_HEADER)] = None
                             ) -> JSONResponse:
    """Submit an application on behalf of a citizen (JSON, or multipart with attachments). The
    applicant's account comes from the ``Citizen-Session`` header (a citizen login's session)."""
    try:
        principal.require("applications:submit")
        await anyio.to_thread.run_sync(refusal_budget.check, gateway.state, _channel(gateway).options,
                                       principal.client_id)
        response, tenant = await _submit(request, gateway, principal, idempotency_key, citizen_session)
    except GatewayError as exc:
        if 400 <= exc.status < 500:
            await _record_refusal(gateway, principal.client_id, _tenant_named(request), exc.to_problem(), request)
        raise
    except HTTPException as exc:  # the multipart parser's own refusals
        if 400 <= exc.status_code < 500:
            await _record_refusal(gateway, principal.client_id, _tenant_named(request),
                                  {"type": PROBLEM_BASE + "http-error", "status": exc.status_code}, request)
        raise
    if 400 <= response.status_code < 500:
        await _record_refusal(gateway, principal.client_id, tenant, orjson.loads(response.body), request)
    return response


_ARS = re.compile(r"[0-9]{12}")


def _note_tenant(request: Request, document: object) -> None:
    """Remember the municipality the envelope names, before it is checked: only a label for the
    refusal record (so its admins see it), never a reason to allow anything."""
    tenant = document.get("tenant") if isinstance(document, dict) else None
    if isinstance(tenant, str) and _ARS.fullmatch(tenant):
        request.state.tenant_named = tenant


def _tenant_named(request: Request) -> str | None:
    tenant: str | None = getattr(request.state, "tenant_named", None)
    return tenant


async def _record_refusal(gateway: Any, client_id: str, tenant: str | None, problem: dict[str, Any],
                          request: Request) -> None:
    """The refusal record, and its bytes counted against the client (refusal_budget.py)."""
    size = int(getattr(request.state, "body_bytes", 0))

    def record() -> None:
        rejections.record(gateway.db, channel=CHANNEL, client_id=client_id, tenant_ars=tenant,
                          problem_type=str(problem.get("type")), status=int(problem.get("status") or 400),
                          at=dt.datetime.now(dt.UTC))
        if size:
            refusal_budget.spend(gateway.state, client_id, size)

    await anyio.to_thread.run_sync(record)


async def _submit(request: Request, gateway: Any, principal: Principal, idempotency_key: str | None,
                  citizen_session: str | None) -> tuple[JSONResponse, str]:
    session = _citizen_session(gateway, citizen_session) if citizen_session else None
    raw, envelope, parts = await _read_submission(request, gateway.settings.max_attachment_bytes, gateway)
    raw, envelope = _with_applicant(gateway, raw, envelope, session)
    if len(envelope.attachments) > gateway.settings.max_attachments:
        raise InvalidRequest(f"at most {gateway.settings.max_attachments} attachments per application")
    if not principal.may_act_for(envelope.tenant):
        raise Forbidden("this client may not submit for that municipality")
    # only now: authenticated, and for a municipality the client serves. Provisional: deleted
    # again right away should the application be refused (never a pending upload); the same bytes
    # under two attachment ids are stored once (a second put would look like somebody else's)
    delivered = [await anyio.to_thread.run_sync(gateway.blobs.put_provisional, _file_chunks(part))
                 for part in dict(parts).values()]
    kept = False
    try:
        answer, kept = await _intake(gateway, principal, idempotency_key, raw, envelope, delivered)
    finally:
        if not kept:
            for blob in delivered:
                await anyio.to_thread.run_sync(gateway.blobs.reclaim, blob)
    if session is not None:  # each use resets the session's idle clock
        answer.headers[SESSION_HEADER] = gateway.adapters.sessions.get(session.issuer).refresh(session)
    return answer, envelope.tenant


async def _intake(gateway: Any, principal: Principal, idempotency_key: str | None, raw: bytes,
                  envelope: PortalApplication, delivered: list[ProvisionalBlob]) -> tuple[JSONResponse, bool]:
    """The application through the core's intake; the answer, and whether the inbox now refers to
    the attachments delivered with it (a new case, or a transient failure the worker retries)."""
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
                             client_id=principal.client_id, parts=tuple(blob.key for blob in delivered))
    outcome = await anyio.to_thread.run_sync(gateway.pipeline.intake, message, fingerprint,
                                             limiter=_intake_slots())
    if outcome.state in ("committed", "acknowledged") and envelope.attachments:
        await anyio.to_thread.run_sync(release, gateway.state, principal.client_id,
                                       [a.sha512 for a in envelope.attachments])
    kept = not outcome.duplicate and outcome.state in ("committed", "retry")
    return _answer(outcome, outcome.duplicate), kept


@router.post("/uploads", status_code=201, response_model=UploadCreated, openapi_extra={"requestBody": {
    "required": True, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
async def upload(request: Request, gateway: GatewayDep, principal: PrincipalDep) -> dict[str, Any]:
    """Upload an attachment before the application; reference it by its SHA-512 there."""
    principal.require("applications:submit")
    limit = gateway.settings.max_attachment_bytes
    received = request.stream()

    async def next_chunk() -> bytes | None:
        return await anext(received, None)

    def chunks() -> Iterator[bytes]:  # runs in the worker thread and pulls the body from the event loop
        empty = True
        while (chunk := anyio.from_thread.run(next_chunk)) is not None:
            if chunk:
                empty = False
                yield chunk
        if empty:
            raise InvalidRequest("empty upload")  # raised inside the stream: nothing is stored

    stored = await anyio.to_thread.run_sync(store_upload, gateway.blobs, gateway.state, _channel(gateway).options,
                                            principal.client_id, chunks(), limit)
    return {"upload_id": stored.key, "sha512": stored.sha512, "size": stored.size}


def _file_chunks(part: UploadFile) -> Iterator[bytes]:
    """A multipart part's bytes from its temporary file, in chunks (read in a worker thread)."""
    part.file.seek(0)
    while chunk := part.file.read(CHUNK):
        yield chunk

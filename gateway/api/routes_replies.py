"""Replies to the applicant: send one, read them, fetch their documents, upload a document first;
"send by post" tasks; dead deliveries for the admin (see gateway/replies/README.md)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import anyio.to_thread
import orjson
from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile

from gateway.api.deps import GatewayDep, PrincipalDep
from gateway.errors import InvalidRequest, MalformedRequest, NotFound, PayloadTooLarge, UnsupportedMediaType
from gateway.replies.request import ReplyRequest
from gateway.replies.views import DeliveryAdminView, PostTaskItem, PostTaskView, ReplyView

router = APIRouter(tags=["replies"])

IDEMPOTENCY_KEY = r"^[A-Za-z0-9._:-]{8,255}$"
REPLY_PART = "reply"
MAX_REPLY_PART_BYTES = 1024 * 1024  # the JSON of a reply: a text of 100,000 characters fits easily
_ID = r"^[A-Za-z0-9-]{1,64}$"


class DocumentUploaded(BaseModel):
    sha512: str
    size: int


class PostTaskClose(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state: Literal["done", "cancelled"] = Field(description="done: printed and posted; cancelled: not to be sent")
    note: str | None = Field(default=None, max_length=1000, pattern=r"^[^\x00-\x1f\x7f-\x9f]*$")


class DeliveryReplayed(BaseModel):
    id: str
    state: Literal["queued"]


def _parse(raw: bytes) -> ReplyRequest:
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise MalformedRequest("the reply is not valid JSON") from None
    try:
        return ReplyRequest.model_validate(document)
    except ValidationError as exc:
        # the input values are left out: they may hold personal data
        raise InvalidRequest(f"{len(exc.errors())} problem(s) in the reply", errors=[
            {"location": [str(p) for p in e["loc"]], "message": e["msg"], "code": e["type"]}
            for e in exc.errors()]) from None


async def _read(request: Request, max_documents: int, max_document_bytes: int) -> tuple[ReplyRequest, dict[str, bytes]]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        return _parse(await request.body()), {}
    if content_type != "multipart/form-data":
        raise UnsupportedMediaType("send application/json or multipart/form-data",
                                   accepted=["application/json", "multipart/form-data"])
    form = await request.form(max_files=max_documents + 1, max_fields=2, max_part_size=MAX_REPLY_PART_BYTES)
    part = form.get(REPLY_PART)
    if part is None:
        raise InvalidRequest(f"a multipart reply needs a part named {REPLY_PART!r} with the reply's JSON")
    raw = await part.read() if isinstance(part, UploadFile) else part.encode()
    if len(raw) > MAX_REPLY_PART_BYTES:
        raise PayloadTooLarge(f"the {REPLY_PART!r} part exceeds {MAX_REPLY_PART_BYTES} bytes")
    reply = _parse(raw)
    parts: dict[str, bytes] = {}
    for name, value in form.multi_items():
        if name == REPLY_PART:
            continue
        if not isinstance(value, UploadFile) or name in parts:
            raise InvalidRequest(f"part {name!r} is not a document file (or given twice)")
        if value.size is not None and value.size > max_document_bytes:
            raise PayloadTooLarge(f"document {name!r} exceeds {max_document_bytes} bytes", document=name,
                                  max_bytes=max_document_bytes)
        parts[name] = await value.read()
    return reply, parts


_REPLY_SCHEMA = ReplyRequest.model_json_schema()
_REPLY_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": _REPLY_SCHEMA},
    "multipart/form-data": {"schema": {
        "type": "object", "required": [REPLY_PART],
        "properties": {REPLY_PART: {"type": "string", "description": "the reply's JSON"}},
        "additionalProperties": {"type": "string", "format": "binary",
                                 "description": "one PDF per document of the reply, named by its id"}}}}}}


@router.post("/v1/cases/{case_id}/replies", status_code=201, response_model=ReplyView, openapi_extra=_REPLY_BODY)
async def send_reply(case_id: str, request: Request, gateway: GatewayDep, principal: PrincipalDep,
                     idempotency_key: Annotated[str | None, Header(pattern=IDEMPOTENCY_KEY)] = None) -> JSONResponse:
    """Answer the applicant: a decision (Bescheid), a request for documents, a notice or a status
    update, with PDF documents. The reply, its first delivery and that delivery's outbox row
    commit together (or its "send by post" task, when no channel can carry it). A repeated
    request with the same ``Idempotency-Key`` returns the reply committed the first time."""
    principal.require("cases:write")
    limits = gateway.settings.replies
    reply, parts = await _read(request, limits.max_documents, limits.max_document_bytes)
    submitted = await anyio.to_thread.run_sync(lambda: gateway.replies.submit(
        case_id, reply, parts, client_id=principal.client_id, idempotency_key=idempotency_key,
        tenants=principal.tenants))
    headers = {"Location": f"/v1/cases/{case_id}/replies/{submitted.reply.id}"}
    if submitted.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(submitted.reply.model_dump(mode="json"), status_code=201, headers=headers)


@router.get("/v1/cases/{case_id}/replies", response_model=list[ReplyView])
def list_replies(case_id: str, gateway: GatewayDep, principal: PrincipalDep) -> list[ReplyView]:
    principal.require("cases:read")
    return gateway.replies.replies(case_id, principal.tenants)


@router.get("/v1/cases/{case_id}/replies/{reply_id}", response_model=ReplyView)
def get_reply(case_id: str, reply_id: str, gateway: GatewayDep, principal: PrincipalDep) -> ReplyView:
    principal.require("cases:read")
    return gateway.replies.reply(case_id, reply_id, principal.tenants)


@router.get("/v1/cases/{case_id}/replies/{reply_id}/documents/{document_id}", response_class=StreamingResponse,
            responses={200: {"description": "the PDF", "content": {
                "application/pdf": {"schema": {"type": "string", "format": "binary"}}}}})
def get_reply_document(case_id: str, reply_id: str, document_id: str, gateway: GatewayDep,
                       principal: PrincipalDep) -> StreamingResponse:
    principal.require("cases:read")
    document = gateway.replies.document(case_id, reply_id, document_id, principal.tenants)
    safe_name = re.sub(r"[^A-Za-z0-9._-]", "_", document["filename"])
    return StreamingResponse(gateway.blobs.open(document["storage_key"]), media_type="application/pdf",
                             headers={"Content-Disposition": f'attachment; filename="{safe_name}"',
                                      "Digest": f"sha-512={document['sha512']}", "X-Content-Type-Options": "nosniff"})


@router.post("/v1/reply-documents", status_code=201, response_model=DocumentUploaded, openapi_extra={
    "requestBody": {"required": True, "content": {"application/octet-stream": {"schema": {
        "type": "string", "format": "binary"}}}}})
async def upload_reply_document(request: Request, gateway: GatewayDep, principal: PrincipalDep) -> dict[str, Any]:
    """Upload a reply's PDF before the reply (the body is the PDF; ``application/pdf`` or
    ``application/octet-stream``); name it there by its SHA-512. Unused uploads expire."""
    principal.require("cases:write")
    limit = gateway.settings.replies.max_document_bytes
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"document exceeds {limit} bytes", max_bytes=limit)
        chunks.append(chunk)
    if size == 0:
        raise InvalidRequest("empty upload")
    digest, stored = await anyio.to_thread.run_sync(gateway.replies.upload, b"".join(chunks), principal.client_id)
    return {"sha512": digest, "size": stored}


@router.get("/v1/post-tasks", response_model=list[PostTaskItem])
def post_tasks(gateway: GatewayDep, principal: PrincipalDep,
               state: Literal["open", "done", "cancelled"] = "open",
               limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[PostTaskItem]:
    """Replies no channel can carry: print and post them, then mark the task done."""
    principal.require("cases:read")
    return gateway.replies.post_tasks(state, principal.tenants, limit)


@router.post("/v1/post-tasks/{task_id}", response_model=PostTaskView)
def close_post_task(task_id: Annotated[str, Path(pattern=_ID)], body: PostTaskClose, gateway: GatewayDep,
                    principal: PrincipalDep) -> PostTaskView:
    principal.require("cases:write")
    return gateway.replies.close_post_task(task_id, body.state, body.note, f"client:{principal.client_id}",
                                           principal.tenants)


@router.get("/v1/admin/reply-deliveries", tags=["admin"], response_model=list[DeliveryAdminView])
def reply_deliveries(gateway: GatewayDep, principal: PrincipalDep, state: Literal["dead", "failed", "queued"] = "dead",
                     limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[DeliveryAdminView]:
    """Deliveries to applicants by state: dead (the channel stayed unreachable; replay them),
    failed (the channel refused; the next channel took over), queued (waiting or retrying). Ids,
    channel, state and problem only: the recipient and the reply's content are local processing's."""
    principal.require("admin")
    return gateway.replies.deliveries_in_state(state, principal.tenants, limit)


@router.post("/v1/admin/reply-deliveries/{delivery_id}/replay", tags=["admin"], response_model=DeliveryReplayed)
def replay_reply_delivery(delivery_id: Annotated[str, Path(pattern=_ID)], gateway: GatewayDep,
                          principal: PrincipalDep) -> dict[str, str]:
    principal.require("admin")
    if not gateway.replies.replay(delivery_id, f"client:{principal.client_id}", principal.tenants):
        raise NotFound("no dead reply delivery with that id")
    return {"id": delivery_id, "state": "queued"}

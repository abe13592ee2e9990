"""Replies in the sandbox: a destination's subscriber answers the sender of a case, v1 and v2.

The published reply API could not be read; these paths and bodies are our reading, the same
ones the client uses (:mod:`adapters.fitconnect.wire`) [D]:

- ``POST /v{n}/replies`` ``{caseId, announcedAttachments}``: 201 ``{replyId, caseId}``; only a
  subscriber of the case's destination; writes ``create-reply``;
- ``PUT /v{n}/replies/{id}/attachments/{attachmentId}``: 204, ``application/jose``, announced ids
  only, only the creator, before the submit;
- ``PUT /v{n}/replies/{id}`` ``{encryptedMetadata, encryptedData}``: 202 once every announced
  attachment is there; writes ``submit-reply`` with the authentication tags;
- ``GET /v{n}/replies/{id}/events``: the reply's own event log (its creator and the case's sender);
- ``GET /v{n}/replies?caseId=``: the submitted replies to the sender's cases; ``notify-reply``
  (``notifyType`` polling) once per reply;
- ``GET /v{n}/replies/{id}`` and ``.../attachments/{attachmentId}``: the case's sender fetches.

The sender's decision: where the reply is encrypted for a key the sandbox holds (the demo
online service's, ``SandboxConfig.reply_keys``), :class:`OnlineService` fetches it at once
(``notify-reply``), checks metadata, data and attachment hashes and writes ``accept-reply`` or
``reject-reply``. Who signs a sender's decision is not known: the sandbox signs it as the
Zustelldienst (``iss`` = its issuer) [D]. Other replies stay submitted.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, BackgroundTasks, Query, Request, Response
from joserfc.jwk import RSAKey

from adapters.fitconnect import jose
from adapters.fitconnect.events import authentication_tags
from adapters.fitconnect.keys import jose_key
from adapters.fitconnect.metadata import MetadataSchemas
from adapters.fitconnect.problems import PROBLEM_BASE, PROBLEMS
from adapters.fitconnect.sandbox.config import SandboxClient
from adapters.fitconnect.sandbox.routes import JOSE, JSON, JWE_COMPACT, Auth, Uuid, _Body, _parse, _path_uuid, _read
from adapters.fitconnect.sandbox.state import Problem, Sandbox, StoredReply
from adapters.fitconnect.wire import PATHS, ApiVersion
from gateway.errors import PermanentError


class CreateReply(_Body):
    caseId: Uuid  # noqa: N815 - FIT-Connect field names
    announcedAttachments: list[Uuid]  # noqa: N815


class SubmitReply(_Body):
    encryptedMetadata: str  # noqa: N815
    encryptedData: str  # noqa: N815


def _tags(reply: StoredReply) -> dict[str, Any]:
    assert reply.encrypted_metadata is not None
    return authentication_tags(reply.encrypted_metadata, reply.encrypted_data,
                               {aid: jose.authentication_tag(t) for aid, t in reply.attachments.items()})


class OnlineService:
    """The demo online service's side: fetches and decides replies encrypted for its keys."""

    def __init__(self, sandbox: Sandbox, private_jwks: list[dict[str, Any]]) -> None:
        self.sandbox = sandbox
        keys = [jose_key(k) for k in private_jwks]
        self.keys: dict[str, RSAKey] = {**{str(j["kid"]): k for j, k in zip(private_jwks, keys, strict=True)},
                                        **{k.thumbprint(): k for k in keys}}
        self.registry = jose.FitConnectJWERegistry(256 * 1024 * 1024, 64 * 1024 * 1024)
        self.schemas = MetadataSchemas()
        self.answers: dict[str, list[dict[str, Any]]] = {}  # case id -> the answers it accepted

    def decide(self, reply: StoredReply) -> None:
        if reply.encrypted_metadata is None or self._key(jose.jwe_header(reply.encrypted_metadata).get("kid")) is None:
            return
        notified(self.sandbox, reply)
        try:
            answer = self._check(reply)
        except _Refused as exc:
            problem = {"type": PROBLEM_BASE + exc.slug, "title": PROBLEMS[exc.slug][0], "detail": str(exc),
                       "instance": exc.instance}
            self._record(reply, "reject-reply", {"problems": [problem]}, "rejected")
            return
        with self.sandbox.lock:
            self.answers.setdefault(reply.case_id, []).append(answer)
        self._record(reply, "accept-reply", {"authenticationTags": _tags(reply)}, "accepted")

    def _record(self, reply: StoredReply, name: str, details: dict[str, Any], status: str) -> None:
        with self.sandbox.lock:
            if reply.status != "submitted":
                return
            reply.status = status
        self.sandbox.record_reply(name, reply, details)

    def _key(self, kid: object) -> RSAKey | None:
        return self.keys.get(kid) if isinstance(kid, str) else None

    def _decrypt(self, token: str, instance: str) -> bytes:
        try:
            return jose.decrypt(token, self._key, self.registry)
        except jose.JoseFailure:
            raise _Refused("encryption-issue", f"{instance} cannot be decrypted", instance) from None

    def _check(self, reply: StoredReply) -> dict[str, Any]:
        metadata = orjson.loads(self._decrypt(reply.encrypted_metadata or "", "metadata"))
        try:
            self.schemas.validate(metadata)
        except PermanentError:
            raise _Refused("schema-violation", "metadata invalid", "metadata") from None
        data = self._decrypt(reply.encrypted_data or "", "data")
        if hashlib.sha512(data).hexdigest() != metadata["contentStructure"]["data"]["hash"]["content"]:
            raise _Refused("hash-mismatch", "data differs from its hash", "data")
        documents = []
        described = metadata["contentStructure"]["attachments"]
        if {a["attachmentId"] for a in described} != set(reply.attachments):
            raise _Refused("attachments-mismatch", "attachments differ from the metadata", "metadata")
        for spec in described:
            content = self._decrypt(reply.attachments[spec["attachmentId"]], f"attachment:{spec['attachmentId']}")
            if hashlib.sha512(content).hexdigest() != spec["hash"]["content"]:
                raise _Refused("hash-mismatch", "an attachment differs from its hash",
                               f"attachment:{spec['attachmentId']}")
            documents.append({"filename": spec.get("filename"), "content": content})
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise _Refused("syntax-violation", "data is not JSON", "data") from None
        return {"replyId": reply.reply_id, "data": parsed, "documents": documents}


class _Refused(Exception):
    def __init__(self, slug: str, detail: str, instance: str) -> None:
        super().__init__(detail)
        self.slug, self.instance = slug, instance


def notified(sandbox: Sandbox, reply: StoredReply) -> None:
    """``notify-reply``: the online service has become aware of the reply (once)."""
    with sandbox.lock:
        if reply.notified or reply.status == "incomplete":
            return
        reply.notified = True
    sandbox.record_reply("notify-reply", reply, {"notifyType": "polling"})


def _created_by(sandbox: Sandbox, client: SandboxClient, reply_id: str) -> StoredReply:
    reply = sandbox.reply(reply_id)
    if reply.creator != client.client_id:
        raise Problem(403, "forbidden", "Client did not create this reply")
    return reply


def _for_sender(sandbox: Sandbox, client: SandboxClient, reply_id: str) -> StoredReply:
    reply = sandbox.reply(reply_id)
    if sandbox.case_sender(reply.case_id) != client.client_id or reply.status == "incomplete":
        raise Problem(404, "reply-not-found", "Reply not found")
    return reply


def reply_router(sandbox: Sandbox, version: ApiVersion, online: OnlineService) -> APIRouter:
    router, paths = APIRouter(), PATHS[version]

    @router.post(paths.replies, status_code=201)
    async def create(request: Request, authorization: Auth = None) -> dict[str, str]:
        client = sandbox.client_for(authorization)
        body = _parse(CreateReply, await _read(request, JSON, "A reply"))
        subs = sandbox.case_submissions(body.caseId)
        if not subs:
            raise Problem(404, "case-not-found", "Case not found")
        if not any(s.destination_id in client.subscribe for s in subs):
            raise Problem(403, "forbidden", "Only the case's destination answers")
        if len(set(body.announcedAttachments)) != len(body.announcedAttachments):
            raise Problem(422, "attachments-invalid", "Announced attachment ids must be unique")
        reply_id, _ = sandbox.new_ids()
        reply = StoredReply(reply_id, body.caseId, client.client_id, list(body.announcedAttachments))
        with sandbox.lock:
            sandbox.replies[reply_id] = reply
        sandbox.record_reply("create-reply", reply, {})
        return {"replyId": reply_id, "caseId": reply.case_id}

    @router.put(paths.reply_attachment, status_code=204)
    async def upload(reply_id: str, attachment_id: str, request: Request, authorization: Auth = None) -> Response:
        reply = _created_by(sandbox, sandbox.client_for(authorization), _path_uuid(reply_id, "replyId"))
        attachment_id = _path_uuid(attachment_id, "attachmentId")
        token = (await _read(request, JOSE, "Attachments")).decode("ascii", errors="replace").strip()
        if attachment_id not in reply.announced:
            raise Problem(422, "attachment-not-announced", "Attachments must be uploaded under their announced ids")
        if not JWE_COMPACT.match(token):
            raise Problem(400, "attachment-invalid", "Attachment is not a compact JWE")
        with sandbox.lock:
            if reply.status != "incomplete":
                raise Problem(409, "reply-state-invalid", "Reply was already submitted")
            reply.attachments[attachment_id] = token
        return Response(status_code=204)

    @router.put(paths.reply, status_code=202)
    async def submit(reply_id: str, request: Request, background: BackgroundTasks,
                     authorization: Auth = None) -> dict[str, str]:
        reply = _created_by(sandbox, sandbox.client_for(authorization), _path_uuid(reply_id, "replyId"))
        body: SubmitReply = _parse(SubmitReply, await _read(request, JSON, "A reply"))
        if not (JWE_COMPACT.match(body.encryptedMetadata) and JWE_COMPACT.match(body.encryptedData)):
            raise Problem(400, "request-invalid", "Request invalid", "metadata and data must be compact JWEs")
        with sandbox.lock:
            if reply.status != "incomplete":
                raise Problem(409, "reply-state-invalid", "Reply was already submitted")
            if any(a not in reply.attachments for a in reply.announced):
                raise Problem(422, "missing-attachments", "Not all announced attachments were uploaded")
            reply.encrypted_metadata, reply.encrypted_data = body.encryptedMetadata, body.encryptedData
            reply.status = "submitted"
        sandbox.record_reply("submit-reply", reply, {"authenticationTags": _tags(reply)})
        background.add_task(online.decide, reply)
        return {"replyId": reply.reply_id, "caseId": reply.case_id}

    @router.get(paths.reply_events)
    def events(reply_id: str, authorization: Auth = None) -> dict[str, Any]:
        client = sandbox.client_for(authorization)
        reply = sandbox.reply(_path_uuid(reply_id, "replyId"))
        if client.client_id not in (reply.creator, sandbox.case_sender(reply.case_id)):
            raise Problem(403, "forbidden", "Client takes no part in this reply")
        with sandbox.lock:
            log = list(sandbox.reply_logs.get(reply.reply_id, []))
        return {"count": len(log), "offset": 0, "totalCount": len(log), "eventLog": log}

    @router.get(paths.replies)
    def listing(authorization: Auth = None,
                case_id: Annotated[str | None, Query(alias="caseId")] = None) -> dict[str, Any]:
        client = sandbox.client_for(authorization)
        with sandbox.lock:
            mine = [r for r in sandbox.replies.values() if r.status != "incomplete"
                    and sandbox.case_sender(r.case_id) == client.client_id
                    and (case_id is None or r.case_id == case_id.lower())]
        for reply in mine:
            notified(sandbox, reply)
        return {"count": len(mine), "offset": 0, "totalCount": len(mine),
                "replies": [{"replyId": r.reply_id, "caseId": r.case_id} for r in mine]}

    @router.get(paths.reply)
    def fetch(reply_id: str, authorization: Auth = None) -> dict[str, Any]:
        reply = _for_sender(sandbox, sandbox.client_for(authorization), _path_uuid(reply_id, "replyId"))
        notified(sandbox, reply)
        return {"replyId": reply.reply_id, "caseId": reply.case_id, "attachments": list(reply.announced),
                "encryptedMetadata": reply.encrypted_metadata, "encryptedData": reply.encrypted_data}

    @router.get(paths.reply_attachment)
    def attachment(reply_id: str, attachment_id: str, authorization: Auth = None) -> Response:
        reply = _for_sender(sandbox, sandbox.client_for(authorization), _path_uuid(reply_id, "replyId"))
        token = reply.attachments.get(_path_uuid(attachment_id, "attachmentId"))
        if token is None:
            raise Problem(404, "attachment-not-found", "Attachment not found")
        return Response(token, media_type=JOSE)

    return router

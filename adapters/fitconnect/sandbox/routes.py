"""Submission API endpoints of the sandbox, v1 and v2 (sender and subscriber side, event log).

v1: request and response bodies, status codes and content types follow the published OpenAPI
document of the Submission API (1.1.x, see ``adapters/fitconnect/README.md``): 201 on create,
204 on upload, 202 with the reduced submission on submit, 204 on a posted event; 400 for a
malformed request, 415 for a wrong content type, 422 for what the API names as
"unprocessable" (unannounced attachment, incomplete submission, invalid SET, destination not
active), 409 for a decision on a submission that is no longer ``submitted``.

v2 (:mod:`adapters.fitconnect.wire` has the sources): the same operations under ``/v2``; the
service is ``publicService`` instead of ``serviceType``, the event log belongs to the
submission (``/v2/submissions/{id}/events``) instead of the case. Both generations share one
state: a submission created in v1 can be fetched in v2 and the other way round.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Header, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from adapters.fitconnect.sandbox.attachments import NotAJwe, TooLarge
from adapters.fitconnect.sandbox.callbacks import notify_destination, notify_sender
from adapters.fitconnect.sandbox.state import Problem, Sandbox, StoredSubmission
from adapters.fitconnect.wire import PATHS, ApiVersion

JWE_COMPACT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
URN = r"^urn:[a-z0-9][a-z0-9-]{0,31}:[a-z0-9()+,.:=@;$_!*'%/?#-]+$"
JOSE = "application/jose"
JSON = "application/json"
MAX_BODY = 64 * 1024 * 1024
Auth = Annotated[str | None, Header(alias="Authorization")]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0)]


def _uuid(value: str) -> str:
    """The API's ids: UUIDs (32 to 36 characters), kept in their canonical lower-case form."""
    if not 32 <= len(value) <= 36:
        raise ValueError("not a UUID")
    return str(uuid.UUID(value))


Uuid = Annotated[str, AfterValidator(_uuid)]


class _Body(BaseModel):
    # The API does not forbid further members; like the real service, ignore them.
    model_config = ConfigDict(extra="ignore")


class ServiceType(_Body):
    name: str
    description: str | None = None
    identifier: str = Field(min_length=7, max_length=255, pattern=URN)


class CreateCallback(_Body):
    url: str = Field(min_length=9, pattern=r"^(https://.+|http://(127\.0\.0\.1|localhost)(:\d+)?/.*)$")
    secret: str = Field(min_length=32, max_length=512)


class CreateSubmission(_Body):
    destinationId: Uuid  # noqa: N815 - FIT-Connect field names
    announcedAttachments: list[Uuid]  # noqa: N815
    serviceType: ServiceType  # noqa: N815
    caseId: Uuid | None = None  # noqa: N815
    callback: CreateCallback | None = None


class CreateSubmissionV2(_Body):
    destinationId: Uuid  # noqa: N815 - FIT-Connect field names
    announcedAttachments: list[Uuid]  # noqa: N815
    publicService: ServiceType  # noqa: N815
    caseId: Uuid | None = None  # noqa: N815
    callback: CreateCallback | None = None


class SubmitSubmission(_Body):
    encryptedMetadata: str = Field(pattern=JWE_COMPACT.pattern)  # noqa: N815
    # a compact JWE, or the empty placeholder when the data travels as a purpose: data attachment
    encryptedData: str | None = Field(default=None, pattern=JWE_COMPACT.pattern + "|^$")  # noqa: N815


def _reduced(sub: StoredSubmission) -> dict[str, str]:
    """SubmissionForPickup / SubmissionCreated: the three ids."""
    return {"destinationId": sub.destination_id, "submissionId": sub.submission_id, "caseId": sub.case_id}


def _submission_reduced(sub: StoredSubmission, version: ApiVersion) -> dict[str, Any]:
    """SubmissionReduced: the ids, the uploaded attachments, the service (and the callback URL).

    Once submitted, every announced attachment has been uploaded (submit refuses otherwise), so
    the list is the announced one; tests that make the sandbox lose a file keep it listed.
    """
    uploaded = list(sub.announced) if sub.status != "incomplete" else [a for a in sub.announced if a in sub.attachments]
    body: dict[str, Any] = {**_reduced(sub), "attachments": uploaded, PATHS[version].service_field: sub.service_type}
    if sub.callback is not None:
        body["callback"] = {"url": sub.callback["url"]}
    return body


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def _read(request: Request, media_type: str, what: str) -> bytes:
    if _media_type(request) != media_type:
        raise Problem(415, "unsupported-media-type", f"{what} must be sent as {media_type}")
    body = await request.body()
    if len(body) > MAX_BODY:
        raise Problem(413, "payload-too-large", "Request entity too large")
    return body


def _parse(model: type[_Body], body: bytes) -> Any:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) or "body" for e in exc.errors())
        raise Problem(400, "request-invalid", "Request invalid", f"invalid fields: {fields}") from None


def _path_uuid(value: str, what: str) -> str:
    try:
        return _uuid(value)
    except ValueError:
        raise Problem(400, "request-invalid", "Request invalid", f"{what} is not a UUID") from None


def _page(items: list[Any], offset: int, limit: int) -> tuple[list[Any], dict[str, int]]:
    page = items[offset: offset + limit]
    return page, {"count": len(page), "offset": offset, "totalCount": len(items)}


def submission_router(sandbox: Sandbox, version: ApiVersion) -> APIRouter:
    router = APIRouter()
    paths = PATHS[version]
    create_model: type[CreateSubmission | CreateSubmissionV2] = CreateSubmission if version == "v1" \
        else CreateSubmissionV2

    @router.post(paths.submissions, status_code=201)
    async def create(request: Request, authorization: Auth = None) -> dict[str, str]:
        client = sandbox.client_for(authorization)
        if not client.send:
            raise Problem(403, "forbidden", "Client may not send submissions")
        body = _parse(create_model, await _read(request, JSON, "A submission"))
        service = body.serviceType if isinstance(body, CreateSubmission) else body.publicService
        destination = sandbox.destination(body.destinationId)
        if destination.status != "active":
            raise Problem(422, "destination-state-invalid", "Destination does not accept submissions")
        if service.identifier not in {s["identifier"] for s in destination.services}:
            raise Problem(422, "service-type-invalid", "Destination does not offer this service")
        if len(set(body.announcedAttachments)) != len(body.announcedAttachments):
            raise Problem(422, "attachments-invalid", "Announced attachment ids must be unique")
        submission_id, case_id = sandbox.new_ids()
        if body.caseId is not None:
            sandbox.events(body.caseId)  # 404 for an unknown case
            case_id = body.caseId
        sub = StoredSubmission(submission_id, case_id, destination.id, service.model_dump(exclude_none=True),
                               list(body.announcedAttachments), sender=client.client_id,
                               callback=body.callback.model_dump() if body.callback is not None else None,
                               api_version=version)
        with sandbox.lock:
            sandbox.submissions[submission_id] = sub
        sandbox.record("create-submission", sub, {})
        return _reduced(sub)

    @router.put(paths.attachment, status_code=204)
    async def upload(submission_id: str, attachment_id: str, request: Request, authorization: Auth = None) -> Response:
        client = sandbox.client_for(authorization)
        sub = sandbox.sent_by(client, _path_uuid(submission_id, "submissionId"))
        attachment_id = _path_uuid(attachment_id, "attachmentId")
        if _media_type(request) != JOSE:
            raise Problem(415, "unsupported-media-type", f"Attachments must be sent as {JOSE}")
        if attachment_id not in sub.announced:
            raise Problem(422, "attachment-not-announced", "Attachments must be uploaded under their announced ids")
        try:  # streamed to disk: an attachment may be larger than memory should hold
            upload = await sub.attachments.receive(request.stream(), sandbox.config.max_attachment_bytes)
        except NotAJwe:
            raise Problem(400, "attachment-invalid", "Attachment is not a compact JWE") from None
        except TooLarge:
            raise Problem(413, "payload-too-large", "Attachment exceeds the size limit") from None
        with sandbox.lock:
            if sub.status != "incomplete":
                upload.unlink()
                raise Problem(409, "submission-state-invalid", "Submission was already submitted")
            sub.attachments.adopt(attachment_id, upload)
        return Response(status_code=204)

    @router.put(paths.submission, status_code=202)
    async def submit(submission_id: str, request: Request, background: BackgroundTasks,
                     authorization: Auth = None) -> dict[str, Any]:
        client = sandbox.client_for(authorization)
        sub = sandbox.sent_by(client, _path_uuid(submission_id, "submissionId"))
        body: SubmitSubmission = _parse(SubmitSubmission, await _read(request, JSON, "A submission"))
        with sandbox.lock:
            if sub.status != "incomplete":
                raise Problem(409, "submission-state-invalid", "Submission was already submitted")
            if any(a not in sub.attachments for a in sub.announced):
                raise Problem(422, "missing-attachments", "Not all announced attachments were uploaded")
            sub.encrypted_metadata, sub.encrypted_data = body.encryptedMetadata, body.encryptedData
            sub.status = "submitted"
        sandbox.record("submit-submission", sub, {"authenticationTags": sandbox.tags(sub)})
        background.add_task(notify_destination, sandbox, sub)
        for hook in sandbox.on_submitted:
            background.add_task(hook, sub)
        return _submission_reduced(sub, version)

    @router.get(paths.submissions)
    def listing(authorization: Auth = None, destination_id: Annotated[str | None, Query(alias="destinationId")] = None,
                offset: Offset = 0, limit: Limit = 100) -> dict[str, Any]:
        client = sandbox.client_for(authorization)
        if destination_id is not None:
            destination_id = _path_uuid(destination_id, "destinationId")
            sandbox.require_subscriber(client, destination_id)
        wanted = {destination_id} if destination_id is not None else set(client.subscribe)
        with sandbox.lock:
            ready = [s for s in sandbox.submissions.values()
                     if s.destination_id in wanted and s.status == "submitted"]
        page, counts = _page(ready, offset, limit)
        return {**counts, "submissions": [_reduced(s) for s in page]}

    @router.get(paths.submission)
    def fetch(submission_id: str, authorization: Auth = None) -> dict[str, Any]:
        client = sandbox.client_for(authorization)
        sub = sandbox.submission(_path_uuid(submission_id, "submissionId"))
        sandbox.require_subscriber(client, sub.destination_id)
        sub = sandbox.ready(sub.submission_id)
        body = _submission_reduced(sub, version)
        body["encryptedMetadata"] = sub.encrypted_metadata
        if sub.encrypted_data is not None:
            body["encryptedData"] = sub.encrypted_data
        return body

    @router.get(paths.attachment)
    def attachment(submission_id: str, attachment_id: str, authorization: Auth = None) -> Response:
        client = sandbox.client_for(authorization)
        sub = sandbox.submission(_path_uuid(submission_id, "submissionId"))
        sandbox.require_subscriber(client, sub.destination_id)
        stored = sandbox.ready(sub.submission_id).attachments
        attachment_id = _path_uuid(attachment_id, "attachmentId")
        if attachment_id not in stored:
            raise Problem(404, "attachment-not-found", "Attachment not found")
        return FileResponse(stored.path(attachment_id), media_type=JOSE)

    if version == "v1":
        @router.get("/v1/cases/{case_id}/events")
        def events(case_id: str, authorization: Auth = None, offset: Offset = 0, limit: Limit = 100) -> dict[str, Any]:
            client = sandbox.client_for(authorization)
            case_id = _path_uuid(case_id, "caseId")
            log = sandbox.events(case_id)
            sandbox.require_participant(client, case_id)
            page, counts = _page(log, offset, limit)
            return {**counts, "eventLog": page}

        @router.post("/v1/cases/{case_id}/events", status_code=204)
        async def post_event(case_id: str, request: Request, background: BackgroundTasks,
                             authorization: Auth = None) -> Response:
            client = sandbox.client_for(authorization)
            case_id = _path_uuid(case_id, "caseId")
            token = (await _read(request, JOSE, "Events")).decode("ascii", errors="replace").strip()
            sandbox.events(case_id)
            if not any(s.destination_id in client.subscribe for s in sandbox.case_submissions(case_id)):
                raise Problem(403, "forbidden", "Client is not the subscriber of this case")
            decided = sandbox.decision(case_id, token)
            background.add_task(notify_sender, sandbox, decided)
            return Response(status_code=204)
    else:
        @router.get("/v2/submissions/{submission_id}/events")
        def submission_events(submission_id: str, authorization: Auth = None, offset: Offset = 0,
                              limit: Limit = 100) -> dict[str, Any]:
            client = sandbox.client_for(authorization)
            sub = sandbox.submission(_path_uuid(submission_id, "submissionId"))
            sandbox.require_participant(client, sub.case_id)
            page, counts = _page(sandbox.submission_events(sub), offset, limit)
            return {**counts, "eventLog": page}

        @router.post("/v2/submissions/{submission_id}/events", status_code=204)
        async def post_submission_event(submission_id: str, request: Request, background: BackgroundTasks,
                                        authorization: Auth = None) -> Response:
            client = sandbox.client_for(authorization)
            sub = sandbox.submission(_path_uuid(submission_id, "submissionId"))
            token = (await _read(request, JOSE, "Events")).decode("ascii", errors="replace").strip()
            if sub.destination_id not in client.subscribe:
                raise Problem(403, "forbidden", "Client is not the subscriber of this submission")
            decided = sandbox.decision(sub.case_id, token, submission_id=sub.submission_id)
            background.add_task(notify_sender, sandbox, decided)
            return Response(status_code=204)

    return router


def problem_response(exc: Problem) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, media_type="application/problem+json")

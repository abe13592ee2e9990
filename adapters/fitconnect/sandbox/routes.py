"""Submission API v1 endpoints of the sandbox (sender and subscriber side, event log)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from adapters.fitconnect.sandbox.callbacks import send_callback
from adapters.fitconnect.sandbox.state import Problem, Sandbox, StoredSubmission

UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
JWE_COMPACT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
JOSE = "application/jose"
Auth = Annotated[str | None, Header(alias="Authorization")]


class ServiceType(BaseModel):
    name: str = Field(min_length=1)
    identifier: str = Field(pattern=r"^urn:[a-z0-9][a-z0-9-]{0,31}:[a-z0-9()+,.:=@;$_!*'%/?#-]+$")


class CreateSubmission(BaseModel):
    model_config = ConfigDict(extra="forbid")
    destinationId: str = Field(pattern=UUID)  # noqa: N815 - FIT-Connect field names
    announcedAttachments: list[Annotated[str, Field(pattern=UUID)]] = Field(default_factory=list)  # noqa: N815
    serviceType: ServiceType  # noqa: N815
    caseId: str | None = Field(default=None, pattern=UUID)  # noqa: N815
    callback: dict[str, Any] | None = None


class SubmitSubmission(BaseModel):
    model_config = ConfigDict(extra="forbid")
    encryptedMetadata: str = Field(pattern=JWE_COMPACT.pattern)  # noqa: N815
    encryptedData: str | None = Field(default=None, pattern=JWE_COMPACT.pattern)  # noqa: N815


def _reduced(sub: StoredSubmission) -> dict[str, str]:
    return {"destinationId": sub.destination_id, "submissionId": sub.submission_id, "caseId": sub.case_id}


def submission_router(sandbox: Sandbox) -> APIRouter:
    router = APIRouter()

    @router.post("/v1/submissions", status_code=201)
    def create(body: CreateSubmission, authorization: Auth = None) -> dict[str, str]:
        client = sandbox.client_for(authorization)
        if not client.send:
            raise Problem(403, "forbidden", "Client may not send submissions")
        destination = sandbox.destination(body.destinationId)
        if destination.status != "active":
            raise Problem(422, "destination-state-invalid", "Destination does not accept submissions")
        if body.serviceType.identifier not in {s["identifier"] for s in destination.services}:
            raise Problem(422, "service-type-invalid", "Destination does not offer this service")
        if len(set(body.announcedAttachments)) != len(body.announcedAttachments):
            raise Problem(422, "attachments-invalid", "Announced attachment ids must be unique")
        submission_id, case_id = sandbox.new_ids()
        if body.caseId is not None:
            sandbox.events(body.caseId)  # 404 for an unknown case
            case_id = body.caseId
        sub = StoredSubmission(submission_id, case_id, destination.id, body.serviceType.model_dump(),
                               list(body.announcedAttachments))
        with sandbox.lock:
            sandbox.submissions[submission_id] = sub
        sandbox.record("create-submission", sub, {})
        return _reduced(sub)

    @router.put("/v1/submissions/{submission_id}/attachments/{attachment_id}", status_code=204)
    async def upload(submission_id: str, attachment_id: str, request: Request, authorization: Auth = None) -> Response:
        sandbox.client_for(authorization)
        if request.headers.get("content-type", "").split(";")[0].strip() != JOSE:
            raise Problem(415, "unsupported-media-type", "Attachments are uploaded as application/jose")
        token = (await request.body()).decode("ascii", errors="replace").strip()
        sub = sandbox.submission(submission_id)
        if attachment_id not in sub.announced:
            raise Problem(404, "attachment-not-found", "Attachment was not announced")
        if not JWE_COMPACT.match(token):
            raise Problem(422, "attachment-invalid", "Attachment is not a compact JWE")
        with sandbox.lock:
            if sub.status != "incomplete":
                raise Problem(409, "submission-state-invalid", "Submission was already submitted")
            sub.attachments[attachment_id] = token
        return Response(status_code=204)

    @router.put("/v1/submissions/{submission_id}", status_code=202)
    def submit(submission_id: str, body: SubmitSubmission, background: BackgroundTasks,
               authorization: Auth = None) -> dict[str, str]:
        sandbox.client_for(authorization)
        sub = sandbox.submission(submission_id)
        with sandbox.lock:
            if sub.status != "incomplete":
                raise Problem(409, "submission-state-invalid", "Submission was already submitted")
            missing = [a for a in sub.announced if a not in sub.attachments]
            if missing:
                raise Problem(422, "missing-attachments", "Not all announced attachments were uploaded")
            sub.encrypted_metadata, sub.encrypted_data = body.encryptedMetadata, body.encryptedData
            sub.status = "submitted"
        sandbox.record("submit-submission", sub, {"authenticationTags": sandbox.tags(sub)})
        destination = sandbox.destination(sub.destination_id)
        if destination.callback_url and destination.callback_secret:
            background.add_task(send_callback, sandbox, destination, [_reduced(sub)])
        return _reduced(sub)

    @router.get("/v1/submissions")
    def listing(destination_id: Annotated[str, Query(alias="destinationId")], authorization: Auth = None,
                offset: Annotated[int, Query(ge=0)] = 0, limit: Annotated[int, Query(ge=1, le=500)] = 100,
                ) -> dict[str, Any]:
        client = sandbox.client_for(authorization)
        sandbox.destination(destination_id)
        sandbox.require_subscriber(client, destination_id)
        with sandbox.lock:
            ready = [s for s in sandbox.submissions.values()
                     if s.destination_id == destination_id and s.status == "submitted"]
        page = ready[offset: offset + limit]
        return {"count": len(page), "offset": offset, "totalCount": len(ready),
                "submissions": [_reduced(s) for s in page]}

    @router.get("/v1/submissions/{submission_id}")
    def fetch(submission_id: str, authorization: Auth = None) -> dict[str, Any]:
        client = sandbox.client_for(authorization)
        sub = sandbox.submission(submission_id)
        sandbox.require_subscriber(client, sub.destination_id)
        if sub.status == "incomplete":
            raise Problem(404, "submission-not-found", "Submission not found")
        body: dict[str, Any] = {**_reduced(sub), "serviceType": sub.service_type, "attachments": sub.announced,
                                "encryptedMetadata": sub.encrypted_metadata}
        if sub.encrypted_data is not None:
            body["encryptedData"] = sub.encrypted_data
        return body

    @router.get("/v1/submissions/{submission_id}/attachments/{attachment_id}")
    def attachment(submission_id: str, attachment_id: str, authorization: Auth = None) -> Response:
        client = sandbox.client_for(authorization)
        sub = sandbox.submission(submission_id)
        sandbox.require_subscriber(client, sub.destination_id)
        token = sub.attachments.get(attachment_id) if sub.status != "incomplete" else None
        if token is None:
            raise Problem(404, "attachment-not-found", "Attachment not found")
        return Response(token, media_type=JOSE)

    @router.get("/v1/cases/{case_id}/events")
    def events(case_id: str, authorization: Auth = None) -> dict[str, list[str]]:
        sandbox.client_for(authorization)
        return {"eventLog": sandbox.events(case_id)}

    @router.post("/v1/cases/{case_id}/events", status_code=204)
    async def post_event(case_id: str, request: Request, authorization: Auth = None) -> Response:
        client = sandbox.client_for(authorization)
        if request.headers.get("content-type", "").split(";")[0].strip() != JOSE:
            raise Problem(415, "unsupported-media-type", "Events are posted as application/jose")
        token = (await request.body()).decode("ascii", errors="replace").strip()
        sandbox.events(case_id)
        subs = [s for s in sandbox.submissions.values() if s.case_id == case_id]
        if not any(s.destination_id in client.subscribe for s in subs):
            raise Problem(403, "forbidden", "Client is not the subscriber of this case")
        sandbox.decision(case_id, token)
        return Response(status_code=204)

    return router


def problem_response(exc: Problem) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, media_type="application/problem+json")

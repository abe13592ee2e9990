"""Sender port: forwards a case to another authority's FIT-Connect destination.

Idempotent per ``(case.id, destination)`` across processes and hosts: the remote ids live
in the gateway's database (``ctx.state``, namespace ``fitconnect.sender``), written right
after the submission is created and before anything is uploaded. The first process to
record a submission wins (``StateStore.add``); a process that created one concurrently
leaves its own *incomplete* and continues the recorded one, so a case is submitted to a
destination at most once. Called again after a crash, ``send`` continues the recorded
submission (or, if the event log shows it was submitted, only reports it).

Residual window: a crash (or a database failure) between the create call and the state
write leaves one *incomplete* submission behind, which is never delivered and which the
Zustelldienst deletes after its retention period; the retry creates a new one. It cannot
be found again: the Zustelldienst assigns the ``caseId`` (a ``caseId`` sent with the create
call must name an *existing* case, so a deterministic one is not possible) and a sender
cannot list its submissions.
"""

from __future__ import annotations

import logging
import uuid

from adapters.fitconnect import jose
from adapters.fitconnect.api import RemoteRefused, SubmissionApi
from adapters.fitconnect.events import Event, EventVerifier, is_uuid, status_of
from adapters.fitconnect.outbound import Application, Created, DestinationUnusable, Outbound, OutgoingAttachment
from gateway.case.model import Case
from gateway.errors import PermanentError
from gateway.ports import BlobStore, Forwarding, StateStore

log = logging.getLogger(__name__)

CASE_SCHEMA_URI = "https://rathaus-gateway.de/schemas/case-v1.schema.json"
STATE_NAMESPACE = "fitconnect.sender"
_ATTACHMENT_NAMESPACE = uuid.UUID("8f4c1a3e-6d0b-4c8e-9a55-3f0f7d1e2b60")
SUBMITTED_EVENTS = {"submit-submission", "notify-submission", "forward-submission", "accept-submission",
                    "reject-submission"}


class SubmissionGone(PermanentError):
    slug = "fitconnect-submission-gone"
    title = "The recorded FIT-Connect submission no longer exists"


def application_for(case: Case, target: str, blobs: BlobStore) -> Application:
    """The case itself (case format v1) as data, its attachments as attachments."""
    attachments = [
        OutgoingAttachment(attachment_id=str(uuid.uuid5(_ATTACHMENT_NAMESPACE, f"{case.id}/{a.id}")),
                           filename=a.filename, media_type=a.media_type, content=blobs.get(a.storage_key),
                           purpose=a.purpose, description=a.description)
        for a in case.attachments
    ]
    reply = None
    if case.reply_channel is not None and case.reply_channel.kind == "email":
        reply = {"eMail": {"address": case.reply_channel.address}}
    return Application(destination_id=target, service_name=case.service.name, leika=case.service.leika,
                       schema_uri=CASE_SCHEMA_URI, data=case.model_dump_json().encode(), attachments=attachments,
                       reply_channel=reply, sender_reference=case.reference)


class FitConnectSender:
    name = "fitconnect"

    def __init__(self, api: SubmissionApi, outbound: Outbound, events: EventVerifier, state: StateStore) -> None:
        self.api, self.outbound, self.events, self.state = api, outbound, events, state

    def send(self, case: Case, target: str, blobs: BlobStore) -> Forwarding:
        if not is_uuid(target):  # it becomes part of API paths and of the state key
            raise DestinationUnusable("the forwarding target is not a FIT-Connect destination id")
        key = f"{case.id}|{target}"
        known = self.state.get(STATE_NAMESPACE, key)
        if known is not None and known.get("submitted"):
            return _forwarding(target, str(known["caseId"]), str(known["submissionId"]))
        app = application_for(case, target, blobs)
        if known is None:
            self.outbound.encryption_key(target)  # refuse an invalid key before creating anything remote
            fresh = self.outbound.create(app)
            created = self._record(key, fresh)
            continuing = created != fresh
        else:
            created, continuing = Created(str(known["submissionId"]), str(known["caseId"])), True
        if continuing and self._remotely_submitted(created):
            return self._submitted(key, created, target)  # submitted just before a crash, or by another process
        try:
            self.outbound.upload_and_submit(app, created)
        except RemoteRefused:
            if not continuing or not self._remotely_submitted(created):
                raise
            # another process submitted it meanwhile (the Zustelldienst refuses a second submit)
        return self._submitted(key, created, target)

    def follow(self, forwarding: Forwarding) -> Forwarding:
        case_id, _, submission_id = forwarding.remote_id.partition("/")
        status = self._status(Created(submission_id, case_id))
        return _forwarding(forwarding.target, case_id, submission_id,
                           forwarding.status if status == "unknown" else status)

    def _record(self, key: str, created: Created) -> Created:
        """Record a created submission; first writer wins. Returns the submission to continue."""
        record: dict[str, object] = {"submissionId": created.submission_id, "caseId": created.case_id,
                                     "submitted": False}
        if self.state.add(STATE_NAMESPACE, key, record):
            return created
        winner = self.state.get(STATE_NAMESPACE, key)
        if winner is None:  # pragma: no cover - records never expire
            raise PermanentError("FIT-Connect sender state vanished")
        log.warning("FIT-Connect forwarding created twice concurrently; submission %s stays incomplete",
                    created.submission_id)
        return Created(str(winner["submissionId"]), str(winner["caseId"]))

    def _submitted(self, key: str, created: Created, target: str) -> Forwarding:
        self.state.put(STATE_NAMESPACE, key, {"submissionId": created.submission_id, "caseId": created.case_id,
                                              "submitted": True})
        return _forwarding(target, created.case_id, created.submission_id)

    def _status(self, created: Created) -> str:
        return status_of(self._events(created.case_id), created.submission_id)

    def _remotely_submitted(self, created: Created) -> bool:
        """Whether the event log shows the submission submitted (whatever happened to it since)."""
        names = {e.name for e in self._events(created.case_id) if e.submission_id == created.submission_id}
        if names & SUBMITTED_EVENTS:
            return True
        if "delete-submission" in names:
            raise SubmissionGone("the Zustelldienst deleted the incomplete submission; forward the case again")
        return False

    def _events(self, case_id: str) -> list[Event]:
        verified = []
        for token in self.api.get_events(case_id):
            try:
                verified.append(self.events.verify(token))
            except (jose.JoseFailure, PermanentError):
                continue  # forged, or signed with a key that fails validation: no status change
        return verified


def _forwarding(target: str, case_id: str, submission_id: str, status: str = "submitted") -> Forwarding:
    return Forwarding(channel="fitconnect", target=target, remote_id=f"{case_id}/{submission_id}", status=status)

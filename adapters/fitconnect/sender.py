"""Sender port: forwards a case to another authority's FIT-Connect destination.

Idempotent per ``(case.id, destination)``: the remote ids are written to a small state file
right after the submission is created, before anything is uploaded. Called again after a
crash, ``send`` continues that submission (or, if the event log shows it was submitted,
only reports it) instead of creating a second one. A crash between the create call and the
state write leaves at most an *incomplete* submission behind, which is never delivered and
which the Zustelldienst deletes after its retention period.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from pathlib import Path
from typing import Any

from adapters.fitconnect import jose
from adapters.fitconnect.api import SubmissionApi
from adapters.fitconnect.events import Event, EventVerifier, status_of
from adapters.fitconnect.outbound import Application, Created, Outbound, OutgoingAttachment
from gateway.case.model import Case
from gateway.errors import PermanentError
from gateway.ports import BlobStore, Forwarding

CASE_SCHEMA_URI = "https://rathaus-gateway.de/schemas/case-v1.schema.json"
_ATTACHMENT_NAMESPACE = uuid.UUID("8f4c1a3e-6d0b-4c8e-9a55-3f0f7d1e2b60")


class SenderState:
    """A tiny JSON file: ``"<case id>|<destination>" -> {submissionId, caseId, submitted}``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            value = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        return value if isinstance(value, dict) else {}

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            return self._load().get(key)

    def put(self, key: str, value: dict[str, Any]) -> None:
        with self._lock:
            state = self._load()
            state[key] = value
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(state, indent=1), encoding="utf-8")
            os.replace(tmp, self.path)  # atomic: a crash leaves the old or the new file


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

    def __init__(self, api: SubmissionApi, outbound: Outbound, events: EventVerifier, state: SenderState) -> None:
        self.api, self.outbound, self.events, self.state = api, outbound, events, state

    def send(self, case: Case, target: str, blobs: BlobStore) -> Forwarding:
        key = f"{case.id}|{target}"
        known = self.state.get(key)
        if known is not None and known.get("submitted"):
            return self._forwarding(target, known["caseId"], known["submissionId"], "submitted")
        app = application_for(case, target, blobs)
        if known is None:
            self.outbound.encryption_key(target)  # refuse an invalid key before creating anything remote
            created = self.outbound.create(app)
            self.state.put(key, {"submissionId": created.submission_id, "caseId": created.case_id,
                                 "submitted": False})
        else:
            created = Created(submission_id=known["submissionId"], case_id=known["caseId"])
            if status_of(self._events(created.case_id), created.submission_id) not in ("incomplete", "unknown"):
                self.state.put(key, {**known, "submitted": True})  # submitted just before a crash
                return self._forwarding(target, created.case_id, created.submission_id, "submitted")
        self.outbound.upload_and_submit(app, created)
        self.state.put(key, {"submissionId": created.submission_id, "caseId": created.case_id, "submitted": True})
        return self._forwarding(target, created.case_id, created.submission_id, "submitted")

    def follow(self, forwarding: Forwarding) -> Forwarding:
        case_id, _, submission_id = forwarding.remote_id.partition("/")
        status = status_of(self._events(case_id), submission_id)
        return self._forwarding(forwarding.target, case_id, submission_id,
                                forwarding.status if status == "unknown" else status)

    def _events(self, case_id: str) -> list[Event]:
        verified = []
        for token in self.api.get_events(case_id):
            try:
                verified.append(self.events.verify(token))
            except (jose.JoseFailure, PermanentError):
                continue  # forged, or signed with a key that fails validation: no status change
        return verified

    @staticmethod
    def _forwarding(target: str, case_id: str, submission_id: str, status: str) -> Forwarding:
        return Forwarding(channel="fitconnect", target=target, remote_id=f"{case_id}/{submission_id}",
                          status=status)

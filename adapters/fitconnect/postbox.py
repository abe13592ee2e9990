"""Reply channel ``postbox``: decisions, requests and notices to the citizen's BundID postbox
(ZBP) and status updates for its application status monitor, through FIT-Connect.

Each delivery is one Submission API v2 submission to the ZBP bridge destination
(``options.postbox.destination_id``): service ``message_v6`` or ``status_v6``, data = the
signed envelope (:mod:`.zbp`), documents as FIT-Connect attachments *and* listed in the signed
message by file name, SHA-512 and length. Sent at most once per ``delivery_id``
(:mod:`.once`, namespace ``fitconnect.postbox``); the core records the outcome, so nothing
more is written here after the create call. ``follow`` reads the submission's event log:
the bridge's ``accept-submission`` -> accepted, a ``reject-submission`` -> failed with the
problem's type and title (never its detail: it may quote the message).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import orjson

from adapters.fitconnect import jose, zbp
from adapters.fitconnect.api import SubmissionApi
from adapters.fitconnect.documents import attachments_of
from adapters.fitconnect.events import EventVerifier, unverified_claims
from adapters.fitconnect.once import Created, Once
from adapters.fitconnect.options import PostboxOptions
from adapters.fitconnect.outbound import Application, Outbound, OutgoingAttachment
from adapters.fitconnect.sender import SubmissionSteps
from adapters.fitconnect.zbp_payload import Document, PayloadSchema, PostboxRefused, Sender, mailbox_of, message, status
from gateway.case.model import Case
from gateway.errors import PermanentError
from gateway.ports import BlobStore, DeliveryReport, OutgoingReply, StateStore

STATE_NAMESPACE = "fitconnect.postbox"
# the events that end a postbox submission: the bridge's decision, or its deletion without one
DECISIONS = ("accept-submission", "reject-submission", "delete-submission")


class PostboxChannel:
    name = "postbox"

    def __init__(self, api: SubmissionApi, outbound: Outbound, events: EventVerifier, state: StateStore,
                 options: PostboxOptions, author: zbp.Author, schema: PayloadSchema | None = None,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self.api, self.outbound, self.events, self.options, self.author = api.with_version("v2"), outbound, events, \
            options, author
        self.schema, self.clock = schema or PayloadSchema(), clock
        self.once = Once(state, STATE_NAMESPACE, mark_submitted=False)
        self.sender = Sender(name=options.sender_name, url=options.sender_url, reply_address=options.reply_address,
                             retrieval_confirmation_address=options.retrieval_confirmation_address,
                             default_stork_qaa_level=options.default_stork_qaa_level,
                             minimum_stork_qaa_level=options.minimum_stork_qaa_level)

    def recipient(self, case: Case) -> str | None:
        return mailbox_of(case)

    def deliver(self, reply: OutgoingReply, blobs: BlobStore) -> DeliveryReport:
        steps = SubmissionSteps(self.outbound, self.events, lambda: self.application(reply, blobs), "v2")
        created = self.once.run(reply.delivery_id, steps, {"destinationId": self.options.destination_id})
        return DeliveryReport(state="sent", remote_id=f"{created.case_id}/{created.submission_id}")

    def follow(self, reply: OutgoingReply, last: DeliveryReport) -> DeliveryReport:
        if last.remote_id is None or last.remote_id.count("/") != 1:
            return last
        case_id, submission_id = last.remote_id.split("/")
        decision = self._decision(Created(submission_id, case_id))
        if decision is None:
            return last
        name, details = decision
        if name == "accept-submission":
            # the bridge's accept is the last the event log tells: the citizen's reading of the message
            # goes to retrievalConfirmationAddress, not to this submission
            return DeliveryReport(state="accepted", remote_id=last.remote_id, final=True)
        if name == "delete-submission":
            return DeliveryReport(state="failed", remote_id=last.remote_id,
                                  detail="the Zustelldienst deleted the submission before the postbox took it")
        return DeliveryReport(state="failed", remote_id=last.remote_id, detail=rejection(details))

    # -- building the submission ----------------------------------------------------------
    def application(self, reply: OutgoingReply, blobs: BlobStore) -> Application:
        """The submission for one delivery: envelope signed now, documents read from the blob store."""
        attachments = self._attachments(reply, blobs)
        if reply.kind == "status":
            kind, service, payload = "status", zbp.STATUS_SERVICE, status(reply, self.sender, self.clock())
        else:
            kind, service = "message", zbp.MESSAGE_SERVICE
            payload = message(reply, self._mailbox(reply), [
                Document(a.filename, a.sha512 or "", len(a.content)) for a in attachments], self.sender)
        self.schema.check(kind, payload)
        return Application(
            destination_id=self.options.destination_id, service_name=zbp.SERVICE_NAMES[service], leika="",
            service_identifier=service, schema_uri=zbp.SCHEMA_URI, api_version="v2",
            data=zbp.envelope(orjson.dumps(payload), self.author), attachments=attachments,
            metadata_version=self.options.metadata_version)

    @staticmethod
    def _mailbox(reply: OutgoingReply) -> str:
        """The mailbox the core recorded as this delivery's recipient: a UUID, else refused."""
        try:
            if len(reply.recipient) == 36:
                return str(uuid.UUID(reply.recipient))
        except ValueError:
            pass
        raise PostboxRefused("the reply names no postbox (a mailbox UUID)")

    def _attachments(self, reply: OutgoingReply, blobs: BlobStore) -> list[OutgoingAttachment]:
        attachments = attachments_of(reply, blobs, self.options.max_document_bytes, self.options.max_documents,
                                     PostboxRefused)
        if len({a.filename for a in attachments}) != len(attachments):
            raise PostboxRefused("the postbox tells documents apart by file name: they must be distinct")
        return attachments

    # -- following ------------------------------------------------------------------------
    def _decision(self, created: Created) -> tuple[str, dict[str, Any]] | None:
        """The newest accept, reject or delete of this submission, its signature verified (only
        that event is verified: the others change nothing here). An accept counts only from the
        bridge itself."""
        for token in reversed(self.api.get_events(created.case_id, created.submission_id)):
            try:
                claims = unverified_claims(token)
            except jose.JoseFailure:
                continue
            names = [uri.rsplit("/", 1)[-1] for uri in claims.get("events") or {}]
            if claims.get("sub") != f"submission:{created.submission_id}" or not set(names) & set(DECISIONS):
                continue
            try:
                event = self.events.verify(token)
            except (jose.JoseFailure, PermanentError):
                continue  # forged, or signed with a key that fails validation: no decision
            if event.name == "accept-submission" and event.issuer != self.options.destination_id:
                continue
            return event.name, event.details
        return None


def rejection(details: dict[str, Any], by: str = "the postbox") -> str:
    """What a rejection says, without personal data: the problems' types and titles."""
    problems = details.get("problems") or []
    named = [f"{str(p.get('type', '')).rsplit('/', 1)[-1][:60]} ({str(p.get('title', ''))[:80]})"
             for p in problems[:5] if isinstance(p, dict)]
    return f"rejected by {by}: " + ("; ".join(named) or "no reason given")

"""Reply channel ``fitconnect``: the answer goes back through FIT-Connect to the online service
that sent the application -- where its metadata offered ``replyChannel.fitConnect`` with the
process standards it understands and the key to encrypt the answer with.

Verified (docs.fitko.de *Rückkanäle*, *metadata/replyChannel*; FITKO planning issues 1295 and
2089): the feature, the offer in the metadata (``processStandards`` and a key), replies as
resources with their own id and event log, ``notify-reply``. Our reading, marked [D] in
``adapters/fitconnect/README.md``: the key member ``encryptionPublicKey`` (as the derived
metadata schemas name it), the paths and bodies of :mod:`.wire`, the other reply events, and the
answer's data format -- the gateway's own ``urn:x-rathaus-gateway:standard:antwort_1.0``
(``schemas/fitconnect/reply-1.0.schema.json``), used only where the sender offers it (the
options name the process standards answered here).

One reply per delivery: create (``caseId``, announced attachments) -> record (:mod:`.once`,
namespace ``fitconnect.replies``) -> encrypt with the offered key, upload, submit. ``follow``:
``accept-reply`` -> accepted, ``reject-reply`` -> failed (problem types and titles only),
``notify-reply`` alone -> delivered (the online service has it).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from joserfc.jwk import RSAKey

from adapters.fitconnect import jose
from adapters.fitconnect.api import SubmissionApi
from adapters.fitconnect.documents import attachments_of
from adapters.fitconnect.events import EventVerifier
from adapters.fitconnect.keys import jose_key
from adapters.fitconnect.once import Created, Once
from adapters.fitconnect.options import ReplyOptions
from adapters.fitconnect.outbound import Application, OutgoingAttachment, metadata_for
from adapters.fitconnect.postbox import rejection
from adapters.fitconnect.wire import ApiVersion
from gateway.case.model import Case
from gateway.errors import PermanentError
from gateway.ports import BlobStore, DeliveryReport, OutgoingReply, StateStore

STATE_NAMESPACE = "fitconnect.replies"
REPLY_SCHEMA_URI = "https://rathaus-gateway.de/schemas/fitconnect/reply-1.0.schema.json"
SUBMITTED = frozenset({"submit-reply", "notify-reply", "accept-reply", "reject-reply"})
KEY_BITS = 4096


class ReplyRefused(PermanentError):
    slug = "fitconnect-reply-refused"
    title = "The answer cannot go back through FIT-Connect"


@dataclass(frozen=True)
class Offer:
    """What the sender of an application offered for the answer."""

    destination_id: str
    case_id: str
    api_version: ApiVersion
    process_standard: str
    key: RSAKey
    kid: str


def reply_key(jwk: object) -> tuple[RSAKey, str]:
    """The offered encryption key, if FIT-Connect would take it for a destination: RSA, 4096 bits,
    e AQAB, public only, for RSA-OAEP-256 and key wrapping where it says so. Its ``kid``, else
    its RFC 7638 thumbprint. (An ``x5c`` chain is not required: online services' keys need not
    come from the Verwaltungs-PKI.)"""
    if not isinstance(jwk, dict) or jwk.get("kty") != "RSA" or any(m in jwk for m in ("d", "p", "q")):
        raise ReplyRefused("the offered key is not a public RSA key")
    if jwk.get("e") != "AQAB" or jwk.get("alg", "RSA-OAEP-256") != "RSA-OAEP-256" \
            or "wrapKey" not in jwk.get("key_ops", ["wrapKey"]) or jwk.get("use", "enc") != "enc":
        raise ReplyRefused("the offered key is not an RSA-OAEP-256 encryption key")
    n = jwk.get("n")
    try:
        bits = int.from_bytes(base64.urlsafe_b64decode(str(n) + "=" * (-len(str(n)) % 4)), "big").bit_length()
    except (binascii.Error, ValueError):
        bits = 0
    if not isinstance(n, str) or bits != KEY_BITS:
        raise ReplyRefused(f"the offered key must have {KEY_BITS} bits")
    key = jose_key({k: v for k, v in jwk.items() if k in ("kty", "n", "e", "kid", "alg")})
    return key, str(jwk.get("kid") or key.thumbprint())


def offer_of(case: Case, standards: list[str]) -> Offer | None:
    """The sender's offer, if the case came through FIT-Connect with a usable one."""
    refs = case.source.references
    if case.source.channel != "fitconnect" or case.reply_channel is None or case.reply_channel.kind != "fitconnect":
        return None
    try:
        offered = orjson.loads(refs.get("replyChannel", ""))
        key, kid = reply_key(offered.get("encryptionPublicKey"))
    except (orjson.JSONDecodeError, AttributeError, ReplyRefused):
        return None
    chosen = next((s for s in offered.get("processStandards") or [] if s in standards), None)
    version = refs.get("apiVersion", "v1")
    if chosen is None or version not in ("v1", "v2") or not _is_uuid(refs.get("caseId")) \
            or not _is_uuid(refs.get("destinationId")):
        return None
    return Offer(refs["destinationId"], refs["caseId"], "v2" if version == "v2" else "v1", chosen, key, kid)


class FitConnectReplyChannel:
    name = "fitconnect"

    def __init__(self, api: SubmissionApi, events: EventVerifier, state: StateStore, options: ReplyOptions,
                 registry: jose.FitConnectJWERegistry,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self.api, self.events, self.options, self.registry, self.clock = api, events, options, registry, clock
        self.once = Once(state, STATE_NAMESPACE, mark_submitted=False)

    def recipient(self, case: Case) -> str | None:
        offer = offer_of(case, self.options.process_standards)
        return f"{offer.destination_id}/{offer.case_id}" if offer is not None else None

    def deliver(self, reply: OutgoingReply, blobs: BlobStore) -> DeliveryReport:
        offer = offer_of(reply.case, self.options.process_standards)
        if offer is None:
            raise ReplyRefused("the application offered no FIT-Connect reply this gateway can answer")
        created = self.once.run(reply.delivery_id, ReplySteps(self, offer, reply, blobs),
                                {"apiVersion": offer.api_version})
        return DeliveryReport(state="sent", remote_id=f"{offer.api_version}/{created.case_id}/{created.submission_id}")

    def follow(self, reply: OutgoingReply, last: DeliveryReport) -> DeliveryReport:
        if last.remote_id is None or last.remote_id.count("/") != 2:
            return last
        version, case_id, reply_id = last.remote_id.split("/")
        names: dict[str, dict[str, Any]] = {}
        for token in self.api.with_version("v2" if version == "v2" else "v1").get_reply_events(reply_id):
            try:
                event = self.events.verify(token, subject="reply")
            except (jose.JoseFailure, PermanentError):
                continue  # forged, or signed with a key that fails validation: no status change
            if event.submission_id == reply_id and event.case_id == case_id:
                names[event.name] = event.details
        # notify-reply: the online service has fetched the answer (delivered); it may still check
        # and reject it, so following goes on until its accept-reply (nothing more to come) or
        # reject-reply (the next channel takes over)
        if "reject-reply" in names:
            return DeliveryReport(state="failed", remote_id=last.remote_id,
                                  detail=rejection(names["reject-reply"], "the online service"))
        if "accept-reply" in names:
            return DeliveryReport(state="delivered", remote_id=last.remote_id, final=True)
        if "notify-reply" in names:
            return DeliveryReport(state="delivered", remote_id=last.remote_id)
        return last


class ReplySteps:
    """The steps of :class:`~adapters.fitconnect.once.Once` for one answer."""

    def __init__(self, channel: FitConnectReplyChannel, offer: Offer, reply: OutgoingReply, blobs: BlobStore) -> None:
        self.channel, self.offer, self.reply, self.blobs = channel, offer, reply, blobs
        self.api = channel.api.with_version(offer.api_version)
        self._attachments: list[OutgoingAttachment] | None = None

    @property
    def attachments(self) -> list[OutgoingAttachment]:
        if self._attachments is None:
            self._attachments = attachments_of(self.reply, self.blobs, self.channel.options.max_document_bytes,
                                               1000, ReplyRefused)
        return self._attachments

    def check(self) -> None:
        self.attachments  # noqa: B018 - refuse unusable documents before anything remote exists

    def create(self) -> Created:
        created = self.api.create_reply({"caseId": self.offer.case_id,
                                         "announcedAttachments": [a.attachment_id for a in self.attachments]})
        return Created(str(created["replyId"]), str(created.get("caseId") or self.offer.case_id))

    def send(self, created: Created) -> None:
        key, kid, registry = self.offer.key, self.offer.kid, self.channel.registry
        for attachment in self.attachments:
            token = jose.encrypt(attachment.content, key, kid, attachment.media_type, registry)
            self.api.upload_reply_attachment(created.submission_id, attachment.attachment_id, token.encode("ascii"))
        app = self.application()
        self.api.submit_reply(created.submission_id, {
            "encryptedMetadata": jose.encrypt(orjson.dumps(metadata_for(app)), key, kid, "application/json", registry),
            "encryptedData": jose.encrypt(app.data, key, kid, "application/json", registry)})

    def submitted(self, created: Created) -> bool:
        names = set()
        for token in self.api.get_reply_events(created.submission_id):
            try:
                names.add(self.channel.events.verify(token, subject="reply").name)
            except (jose.JoseFailure, PermanentError):
                continue
        if names & SUBMITTED:
            return True
        if "delete-reply" in names:
            raise ReplyRefused("the Zustelldienst deleted the incomplete answer; send it again")
        return False

    def application(self) -> Application:
        case, reply = self.reply.case, self.reply
        data: dict[str, Any] = {
            "$schema": REPLY_SCHEMA_URI, "kind": reply.kind, "title": reply.title, "text": reply.text,
            "caseReference": case.reference, "sentAt": self.channel.clock().isoformat(),
            "documents": [{"attachmentId": a.attachment_id, "filename": a.filename, "mimeType": a.media_type,
                           "sha512": a.sha512} for a in self.attachments]}
        if reply.status:
            data["status"] = reply.status
        if sender_reference := case.source.references.get("senderReference"):
            data["senderReference"] = sender_reference
        return Application(destination_id=self.offer.destination_id, service_name=case.service.name,
                           leika=case.service.leika, schema_uri=REPLY_SCHEMA_URI, data=orjson.dumps(data),
                           attachments=self.attachments, sender_reference=case.reference,
                           metadata_version=self.channel.options.metadata_version,
                           api_version=self.offer.api_version)


def _is_uuid(value: str | None) -> bool:
    try:
        return value is not None and str(uuid.UUID(value)) == value
    except ValueError:
        return False

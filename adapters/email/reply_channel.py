"""The ``email`` reply channel of the core (gateway.ports.ReplyChannelAdapter): a reply to the
applicant who chose e-mail, through :class:`MailReplySender`.

With the applicant's OpenPGP key (FIT-Connect ``replyChannel.eMail.pgpPublicKey``, or the portal
envelope's ``reply_channel.pgp_public_key``; both reach the case as ``references["replyChannel"]``)
the reply goes encrypted with its documents; without one the applicant gets the notice without
personal data. Every attempt for one reply carries the same Message-ID (``<reply.{reply id}@...>``).
SMTP reports nothing after the relay's 250: the delivery ends "accepted", final."""

from __future__ import annotations

import json
from typing import Any

from adapters.email.errors import InvalidReplyMail
from adapters.email.model import MailDocument, ReplyKind, ReplyMail, check_address
from adapters.email.sender import MailReplySender
from gateway.case.model import Case
from gateway.ports import BlobStore, DeliveryReport, OutgoingReply

CHANNEL = "email"
KINDS = {"decision": ReplyKind.DECISION, "request": ReplyKind.REQUEST_FOR_DOCUMENTS, "notice": ReplyKind.NOTICE,
         "status": ReplyKind.STATUS_UPDATE}


def reply_channel_details(case: Case) -> dict[str, Any]:
    """What the applicant's channel choice carried beyond its address (e.g. ``pgpPublicKey``)."""
    raw = case.source.references.get("replyChannel")
    try:
        details = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return details if isinstance(details, dict) and details.get("kind") == CHANNEL else {}


class EmailReplyChannel:
    name = CHANNEL

    def __init__(self, sender: MailReplySender) -> None:
        self.sender = sender

    def recipient(self, case: Case) -> str | None:
        """The address the applicant chose for answers; an address unfit for mail serves nobody."""
        if case.reply_channel is None or case.reply_channel.kind != CHANNEL:
            return None
        try:
            return check_address(case.reply_channel.address)
        except InvalidReplyMail:
            return None

    def deliver(self, reply: OutgoingReply, blobs: BlobStore) -> DeliveryReport:
        key = reply_channel_details(reply.case).get("pgpPublicKey")
        key = key if isinstance(key, str) and key else None
        # documents leave only encrypted: without a key they are not even read
        documents = tuple(MailDocument(d.filename, blobs.get(d.storage_key)) for d in reply.documents) if key else ()
        delivery = self.sender.send(ReplyMail(
            reply_id=reply.reply_id, reference=reply.case.reference, kind=KINDS[reply.kind], to=reply.recipient,
            title=reply.title, text=reply.text, documents=documents, pgp_public_key=key,
            tenant=reply.case.tenant.ars))
        detail = (f"encrypted with the applicant's key, {delivery.documents} document(s)" if delivery.encrypted
                  else "notice without personal data (no key)")
        return DeliveryReport(state="accepted", remote_id=delivery.message_id, detail=detail, final=True)

    def follow(self, reply: OutgoingReply, last: DeliveryReport) -> DeliveryReport:
        return last  # SMTP says nothing after the relay took the mail

"""Turns a reply into the mail to send: encrypted with its documents when the applicant gave a
usable OpenPGP key, otherwise the notice without personal data."""

from __future__ import annotations

from datetime import UTC, datetime

from adapters.email.errors import InvalidReplyMail, RecipientKeyUnusable
from adapters.email.model import OutgoingMail, ReplyMail, message_id_for
from adapters.email.notice import Notice, build_notice_mail
from adapters.email.options import MailOptions
from adapters.email.pgpkey import parse_recipient_key
from adapters.email.pgpmime import build_encrypted_mail


def compose(reply: ReplyMail, options: MailOptions, now: datetime | None = None) -> OutgoingMail:
    now = now or datetime.now(UTC)
    identity = options.identity_for(reply.tenant)
    message_id = message_id_for(reply.reply_id, identity.message_id_domain)
    if len(reply.documents) > options.max_documents:
        raise InvalidReplyMail(f"more than {options.max_documents} documents")
    if any(len(d.content) > options.max_document_bytes for d in reply.documents):
        raise InvalidReplyMail(f"a document is larger than {options.max_document_bytes} bytes")
    key = None
    if reply.pgp_public_key is not None:
        try:
            key = parse_recipient_key(reply.pgp_public_key, options.pgp, now)
        except RecipientKeyUnusable:
            if options.on_unusable_key == "fail":
                raise
    if key is not None:
        data = build_encrypted_mail(reply, key, identity=identity, message_id=message_id, date=now)
    else:
        notice = Notice.create(reply.reference, reply.kind, identity)
        data = build_notice_mail(notice, identity=identity, to=reply.to, message_id=message_id, date=now)
    if len(data) > options.max_message_bytes:
        raise InvalidReplyMail(f"the mail would be {len(data)} bytes; the limit is {options.max_message_bytes}")
    return OutgoingMail(message_id=message_id, mail_from=identity.envelope_from or identity.from_address,
                        rcpt_to=reply.to, data=data, encrypted=key is not None,
                        documents=len(reply.documents) if key is not None else 0)

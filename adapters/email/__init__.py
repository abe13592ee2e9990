"""E-mail replies to applicants: PGP/MIME when they gave a key, else a notice without personal data.

Public API (see README.md): :class:`MailReplySender` (the one verb ``send``), :class:`ReplyMail`,
:class:`MailDocument`, :class:`ReplyKind`, :class:`MailOptions`, :class:`MailDelivery`,
:func:`parse_recipient_key` and the errors of :mod:`adapters.email.errors`.
"""

from adapters.email.compose import compose
from adapters.email.errors import (
    InvalidReplyMail,
    MailRejected,
    MailRelayUnavailable,
    MailRelayUnusable,
    RecipientKeyUnusable,
)
from adapters.email.model import MailDocument, OutgoingMail, ReplyKind, ReplyMail, SmtpReceipt, message_id_for
from adapters.email.options import MailOptions, PgpPolicy, RelayOptions, SenderIdentity
from adapters.email.pgpkey import RecipientKey, parse_recipient_key
from adapters.email.sender import MailDelivery, MailReplySender
from adapters.email.smtp import SmtpRelay

__all__ = [
    "InvalidReplyMail",
    "MailDelivery",
    "MailDocument",
    "MailOptions",
    "MailRejected",
    "MailRelayUnavailable",
    "MailRelayUnusable",
    "MailReplySender",
    "OutgoingMail",
    "PgpPolicy",
    "RecipientKey",
    "RecipientKeyUnusable",
    "RelayOptions",
    "ReplyKind",
    "ReplyMail",
    "SenderIdentity",
    "SmtpReceipt",
    "SmtpRelay",
    "compose",
    "message_id_for",
    "parse_recipient_key",
]

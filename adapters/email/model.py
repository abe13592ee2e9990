"""What the adapter is given (a reply), and what it hands to the relay (an outgoing mail)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from adapters.email.errors import InvalidReplyMail

# ASCII addr-spec only (no SMTPUTF8): local part without quoting, a dotted domain. Stricter than
# RFC 5321 on purpose; FIT-Connect's replyChannel.eMail.address is "format: email".
EMAIL_ADDRESS_PATTERN = r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9]([A-Za-z0-9-]{0,62}\.)+[A-Za-z]{2,63}$"
# The gateway's case reference (gateway/case/model.py): letters, year, number - never a name.
REFERENCE_PATTERN = r"^[A-Z]{2,6}-[0-9]{4}-[0-9]{6}$"
REPLY_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$"
_FILENAME = re.compile(r"^[A-Za-z0-9ÄÖÜäöüß][A-Za-z0-9ÄÖÜäöüß ._()-]{0,95}\.pdf$")
_EMAIL = re.compile(EMAIL_ADDRESS_PATTERN)


class ReplyKind(StrEnum):
    DECISION = "decision"  # Bescheid
    REQUEST_FOR_DOCUMENTS = "request_for_documents"  # Nachforderung
    NOTICE = "notice"  # Mitteilung
    STATUS_UPDATE = "status_update"


# German wording per kind: (noun for the subject, phrase "es liegt ... für Sie bereit").
KIND_WORDING: dict[ReplyKind, tuple[str, str]] = {
    ReplyKind.DECISION: ("Bescheid", "ein Bescheid"),
    ReplyKind.REQUEST_FOR_DOCUMENTS: ("Nachforderung von Unterlagen", "eine Nachforderung von Unterlagen"),
    ReplyKind.NOTICE: ("Mitteilung", "eine Mitteilung"),
    ReplyKind.STATUS_UPDATE: ("Statusmeldung", "eine Statusmeldung"),
}


def check_address(address: str) -> str:
    if len(address) > 254 or not _EMAIL.match(address):
        raise InvalidReplyMail("the recipient address is not a plain ASCII e-mail address")
    return address


def check_reference(reference: str) -> str:
    if not re.match(REFERENCE_PATTERN, reference):
        raise InvalidReplyMail("the case reference does not have the gateway's reference format")
    return reference


def message_id_for(reply_id: str, domain: str) -> str:
    """The Message-ID of every attempt to mail reply ``reply_id``: the same id on a retry, so a
    duplicate after a crash between DATA and its 250 can be recognised by the recipient's side."""
    if not re.match(REPLY_ID_PATTERN, reply_id):
        raise InvalidReplyMail("the reply id must be 1-64 letters, digits or '-'")
    return f"<reply.{reply_id.lower()}@{domain.lower()}>"


@dataclass(frozen=True)
class MailDocument:
    """A document of the reply (a PDF). Mailed only inside an encrypted message."""

    filename: str
    content: bytes

    def __post_init__(self) -> None:
        if not _FILENAME.match(self.filename):
            raise InvalidReplyMail("a document file name must be 1-100 plain characters ending in .pdf")
        if not self.content.startswith(b"%PDF-"):
            raise InvalidReplyMail("a document is not a PDF")


@dataclass(frozen=True)
class ReplyMail:
    """One reply to one applicant. ``title``, ``text`` and ``documents`` are personal data: they
    leave only encrypted to ``pgp_public_key``; without a key the applicant gets a notice."""

    reply_id: str
    reference: str
    kind: ReplyKind
    to: str
    title: str
    text: str
    documents: tuple[MailDocument, ...] = ()
    pgp_public_key: str | None = None  # ASCII-armored (FIT-Connect replyChannel.eMail.pgpPublicKey)
    tenant: str | None = None  # ARS of the municipality, picks the sender identity

    def __post_init__(self) -> None:
        check_address(self.to)
        check_reference(self.reference)
        if not 1 <= len(self.title) <= 500 or "\r" in self.title or "\n" in self.title:
            raise InvalidReplyMail("the title must be one line of 1-500 characters")
        if len(self.text) > 100_000:
            raise InvalidReplyMail("the text is longer than 100,000 characters")
        names = [d.filename.casefold() for d in self.documents]
        if len(names) != len(set(names)):
            raise InvalidReplyMail("document file names must be unique")


@dataclass(frozen=True)
class OutgoingMail:
    """A mail ready for the relay: envelope and the exact bytes (CRLF, 7-bit)."""

    message_id: str
    mail_from: str
    rcpt_to: str
    data: bytes
    encrypted: bool
    documents: int


@dataclass(frozen=True)
class SmtpReceipt:
    """The relay took the mail (2xx after DATA). SMTP reports nothing after this point."""

    message_id: str
    code: int
    tls: bool

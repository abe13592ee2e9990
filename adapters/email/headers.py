"""Headers every reply mail carries, built the same way for the notice and the encrypted mail."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr

from adapters.email.model import KIND_WORDING, ReplyKind
from adapters.email.options import SenderIdentity

# CRLF line ends; headers folded only beyond RFC 5322's 998 characters, so the Message-ID stays on its line.
WIRE_POLICY = SMTP.clone(max_line_length=998)


def subject_for(kind: ReplyKind, reference: str, authority: str) -> str:
    """The subject travels unencrypted: only the kind of reply, the reference and the authority."""
    return f"{KIND_WORDING[kind][0]} zu Ihrem Antrag {reference} - {authority}"


def set_envelope_headers(msg: EmailMessage, *, identity: SenderIdentity, to: str, message_id: str,
                         subject: str, date: datetime) -> None:
    msg["From"] = formataddr((identity.authority_name, identity.from_address))
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    # RFC 3834: an automatic reply; vacation responders should stay quiet.
    msg["Auto-Submitted"] = "auto-generated"

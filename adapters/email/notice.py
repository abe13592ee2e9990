"""The mail for an applicant without an OpenPGP key: a notice that carries no personal data.

The guarantee is structural: :class:`Notice` holds only the case reference (the gateway's
reference format, never a name), the kind of reply and the fetch URL (made from the configured
template, whose only placeholder is the reference), and :func:`build_notice_mail` takes a
Notice - nothing else of the reply can reach it. Title, text and documents of the reply never
come near this module. The recipient address is in ``To`` because it must be.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from urllib.parse import quote

from adapters.email.headers import WIRE_POLICY, set_envelope_headers, subject_for
from adapters.email.model import KIND_WORDING, ReplyKind, check_address, check_reference
from adapters.email.options import SenderIdentity


@dataclass(frozen=True)
class Notice:
    reference: str
    kind: ReplyKind
    fetch_url: str

    @classmethod
    def create(cls, reference: str, kind: ReplyKind, identity: SenderIdentity) -> Notice:
        check_reference(reference)
        url = identity.fetch_url_template.format(reference=quote(reference, safe=""))
        return cls(reference=reference, kind=ReplyKind(kind), fetch_url=url)


def notice_text(notice: Notice, authority: str) -> str:
    noun_phrase = KIND_WORDING[notice.kind][1]
    return (
        "Guten Tag,\n\n"
        f"zu Ihrem Antrag mit dem Aktenzeichen {notice.reference} liegt für Sie {noun_phrase} bereit.\n\n"
        "Zum Schutz Ihrer Daten enthält diese E-Mail keine Inhalte und keine Dokumente. "
        "Sie können die Nachricht hier abrufen:\n\n"
        f"{notice.fetch_url}\n\n"
        "Diese E-Mail wurde automatisch erstellt. Bitte antworten Sie nicht auf diese E-Mail.\n\n"
        "Mit freundlichen Grüßen\n"
        f"{authority}\n"
    )


def build_notice_mail(notice: Notice, *, identity: SenderIdentity, to: str, message_id: str,
                      date: datetime) -> bytes:
    """The notice mail as sent: text/plain UTF-8 (quoted-printable), CRLF line ends."""
    msg = EmailMessage()
    set_envelope_headers(msg, identity=identity, to=check_address(to), message_id=message_id,
                         subject=subject_for(notice.kind, notice.reference, identity.authority_name), date=date)
    msg.set_content(notice_text(notice, identity.authority_name), subtype="plain", charset="utf-8",
                    cte="quoted-printable")
    return msg.as_bytes(policy=WIRE_POLICY)

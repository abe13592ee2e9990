"""The encrypted mail (PGP/MIME, RFC 3156 section 4) with the reply's text and documents.

Inside the encryption: a ``multipart/mixed`` entity with the protected headers (Subject with the
reply's real title, From, To, Date, Message-ID; marked ``protected-headers="v1"`` as modern
clients read it), a text part and one ``application/pdf`` part per document. Outside: only the
headers of :mod:`adapters.email.headers` and ``multipart/encrypted`` with its two parts.
"""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage

from adapters.email.headers import WIRE_POLICY, set_envelope_headers, subject_for
from adapters.email.model import ReplyMail
from adapters.email.options import SenderIdentity
from adapters.email.pgpkey import RecipientKey, encrypt_to


def _inner(reply: ReplyMail, identity: SenderIdentity, message_id: str, date: datetime) -> bytes:
    inner = EmailMessage()
    set_envelope_headers(inner, identity=identity, to=reply.to, message_id=message_id,
                         subject=reply.title, date=date)
    body = (f"{reply.title}\n\nAktenzeichen: {reply.reference}\n\n{reply.text}\n\n"
            f"Mit freundlichen Grüßen\n{identity.authority_name}\n")
    inner.set_content(body, subtype="plain", charset="utf-8", cte="quoted-printable")
    for document in reply.documents:
        inner.add_attachment(document.content, maintype="application", subtype="pdf",
                             filename=document.filename)
    if not reply.documents:
        inner.make_mixed()
    inner.set_param("protected-headers", "v1")
    # The signed/encrypted entity must be in canonical form (CRLF), RFC 3156 section 3.
    return inner.as_bytes(policy=WIRE_POLICY)


def build_encrypted_mail(reply: ReplyMail, key: RecipientKey, *, identity: SenderIdentity, message_id: str,
                         date: datetime) -> bytes:
    armored = encrypt_to(key, _inner(reply, identity, message_id, date))
    msg = EmailMessage()
    set_envelope_headers(msg, identity=identity, to=reply.to, message_id=message_id,
                         subject=subject_for(reply.kind, reply.reference, identity.authority_name), date=date)
    msg["MIME-Version"] = "1.0"
    msg["Content-Type"] = 'multipart/encrypted; protocol="application/pgp-encrypted"'
    control = EmailMessage()
    control["Content-Type"] = "application/pgp-encrypted"
    control["Content-Description"] = "PGP/MIME version identification"
    control.set_payload("Version: 1\r\n")
    payload = EmailMessage()
    payload["Content-Type"] = 'application/octet-stream; name="encrypted.asc"'
    payload["Content-Description"] = "OpenPGP encrypted message"
    payload["Content-Disposition"] = 'inline; filename="encrypted.asc"'
    payload.set_payload(armored.decode("ascii"))
    msg.attach(control)
    msg.attach(payload)
    return msg.as_bytes(policy=WIRE_POLICY)

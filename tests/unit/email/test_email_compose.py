"""What goes into the mail: the encrypted decision with its documents, or the notice that carries
no personal data; stable Message-IDs; limits."""

from __future__ import annotations

import dataclasses
import email
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default
from typing import cast

import pysequoia
import pytest
from pydantic import ValidationError

from adapters.email import testing
from adapters.email.compose import compose
from adapters.email.errors import InvalidReplyMail, RecipientKeyUnusable
from adapters.email.model import MailDocument, ReplyKind, ReplyMail, message_id_for
from adapters.email.notice import Notice, build_notice_mail

OPTIONS = testing.options(2525)
PERSONAL = ["Erika", "Mustermann", "Heidestra", "Bello", "60 Euro", "Hundesteuerbescheid", "Bescheid-Hundesteuer.pdf",
            "Anlage.pdf", "Anlage Heidestrasse"]


def parse(data: bytes) -> EmailMessage:
    return cast(EmailMessage, email.message_from_bytes(data, policy=default))


def decrypt(mail: EmailMessage, secret_key: str) -> EmailMessage:
    assert mail.get_content_type() == "multipart/encrypted"
    assert mail.get_param("protocol") == "application/pgp-encrypted"
    control, payload = mail.get_payload()  # type: ignore[misc]
    assert control.get_content_type() == "application/pgp-encrypted"
    assert control.get_payload().strip() == "Version: 1"
    assert payload.get_content_type() == "application/octet-stream"
    armored = payload.get_payload()
    assert armored.startswith("-----BEGIN PGP MESSAGE-----")
    tsk = pysequoia.Tsk.from_bytes(testing.key(secret_key).encode())
    plain = pysequoia.decrypt(armored.encode(), tsk.decryptor()).bytes
    assert plain is not None
    return parse(plain)


@pytest.mark.parametrize("name", ["citizen-rsa3072", "citizen-cv25519"])
def test_with_a_key_the_decision_and_its_documents_travel_encrypted(name: str) -> None:
    reply = testing.reply(key_name=f"{name}.pub")
    mail = compose(reply, OPTIONS)
    assert mail.encrypted and mail.documents == 2
    outer = parse(mail.data)
    for word in PERSONAL:  # nothing personal outside the encryption (the address is in To, as it must be)
        assert word.encode() not in mail.data
    assert outer["Message-ID"] == message_id_for(reply.reply_id, "gateway.tangerhuette.example")
    inner = decrypt(outer, f"{name}.sec")
    assert inner["Subject"] == reply.title
    assert inner.get_param("protected-headers") == "v1"
    body = inner.get_body(("plain",))
    assert body is not None and "Bello" in body.get_content() and "TGH-2026-000123" in body.get_content()
    attachments = {part.get_filename(): part.get_content() for part in inner.iter_attachments()}
    assert attachments == {d.filename: d.content for d in reply.documents}


def test_without_a_key_only_the_notice_goes_out() -> None:
    reply = testing.reply()
    mail = compose(reply, OPTIONS)
    assert not mail.encrypted and mail.documents == 0
    msg = parse(mail.data)
    assert msg.get_content_type() == "text/plain" and not msg.is_multipart()
    text = msg.get_content()
    assert "TGH-2026-000123" in text and "ein Bescheid" in text
    assert "https://portal.tangerhuette.example/postfach?vorgang=TGH-2026-000123" in text
    assert "keine Inhalte und keine Dokumente" in text
    decoded = mail.data.decode("ascii") + text + str(msg["Subject"])
    for word in PERSONAL:
        assert word not in decoded
    assert b"%PDF" not in mail.data


def test_the_notice_builder_cannot_take_personal_fields() -> None:
    # The structural guarantee: a Notice has exactly these fields, and the builder takes a Notice.
    assert [f.name for f in dataclasses.fields(Notice)] == ["reference", "kind", "fetch_url"]
    with pytest.raises(TypeError):
        Notice.create("TGH-2026-000123", ReplyKind.NOTICE, OPTIONS.sender, title="x")  # type: ignore[call-arg]
    with pytest.raises(InvalidReplyMail, match="reference format"):
        Notice.create("Erika Mustermann", ReplyKind.NOTICE, OPTIONS.sender)
    data = build_notice_mail(Notice.create("TGH-2026-000123", ReplyKind.REQUEST_FOR_DOCUMENTS, OPTIONS.sender),
                             identity=OPTIONS.sender, to="a@example.org", message_id="<m@x.example>",
                             date=datetime(2026, 1, 2, tzinfo=UTC))
    assert "Nachforderung von Unterlagen" in parse(data).get_content()


def test_the_fetch_url_template_may_only_hold_the_reference() -> None:
    sender = OPTIONS.sender.model_dump()
    for template in ("https://portal.example/{name}", "https://portal.example/{reference}/{to}",
                     "http://portal.example/{reference}"):
        with pytest.raises(ValidationError):
            testing.options(2525, sender={**sender, "fetch_url_template": template})


def test_a_bad_key_fails_or_falls_back_to_the_notice_as_configured() -> None:
    reply = testing.reply(key_name="revoked.pub")
    with pytest.raises(RecipientKeyUnusable, match="revoked"):
        compose(reply, OPTIONS)
    fallback = compose(reply, testing.options(2525, on_unusable_key="notice"))
    assert not fallback.encrypted and b"Mustermann" not in fallback.data


def test_the_message_id_is_stable_per_reply_and_differs_between_replies() -> None:
    first, again = compose(testing.reply("r-1"), OPTIONS), compose(testing.reply("r-1"), OPTIONS)
    other = compose(testing.reply("r-2"), OPTIONS)
    assert first.message_id == again.message_id == "<reply.r-1@gateway.tangerhuette.example>"
    assert other.message_id != first.message_id
    with pytest.raises(InvalidReplyMail):
        message_id_for("r-1@evil>", "x.example")


def test_per_tenant_sender_identity() -> None:
    other = {**OPTIONS.sender.model_dump(), "authority_name": "Stadt Thale", "from_address": "post@thale.example"}
    options = testing.options(2525, tenants={"150855500000": other})
    mail = compose(dataclasses.replace(testing.reply(), tenant="150855500000"), options)
    assert "post@thale.example" in str(parse(mail.data)["From"])
    assert mail.mail_from == "post@thale.example"


@pytest.mark.parametrize(("change", "message"), [
    ({"to": "erika mustermann@example.org"}, "not a plain ASCII e-mail address"),
    ({"to": "erika@example.org\r\nBcc: x@example.org"}, "not a plain ASCII e-mail address"),
    ({"reference": "TGH 2026"}, "reference format"),
    ({"title": "two\nlines"}, "one line"),
])
def test_bad_reply_fields_are_refused(change: dict[str, str], message: str) -> None:
    values = {**{f.name: getattr(testing.reply(), f.name) for f in dataclasses.fields(ReplyMail)}, **change}
    with pytest.raises(InvalidReplyMail, match=message):
        ReplyMail(**values)


def test_documents_must_be_pdfs_with_plain_unique_names() -> None:
    with pytest.raises(InvalidReplyMail, match="not a PDF"):
        MailDocument("bescheid.pdf", b"MZ\x90\x00")
    with pytest.raises(InvalidReplyMail, match="file name"):
        MailDocument("../etc/passwd.pdf", b"%PDF-1.4")
    doc = MailDocument("a.pdf", b"%PDF-1.4")
    with pytest.raises(InvalidReplyMail, match="unique"):
        dataclasses.replace(testing.reply(), documents=(doc, MailDocument("A.pdf", b"%PDF-1.4")))


def test_size_and_count_limits() -> None:
    reply = testing.reply(key_name="citizen-cv25519.pub")
    with pytest.raises(InvalidReplyMail, match="more than 1 documents"):
        compose(reply, testing.options(2525, max_documents=1))
    with pytest.raises(InvalidReplyMail, match="larger than 10 bytes"):
        compose(reply, testing.options(2525, max_document_bytes=10))
    with pytest.raises(InvalidReplyMail, match="the limit is 1000"):
        compose(reply, testing.options(2525, max_message_bytes=1000))

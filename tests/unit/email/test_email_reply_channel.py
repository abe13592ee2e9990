"""The e-mail reply channel: who it serves, encrypted decision or notice, same Message-ID."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.email import testing
from adapters.email.model import OutgoingMail, SmtpReceipt
from adapters.email.reply_channel import EmailReplyChannel
from adapters.email.sender import MailReplySender
from gateway.case.model import Case, ReplyChannel, SourceReference
from gateway.ports import OutgoingReply, ReplyDocument
from gateway.store.blobs import FilesystemBlobStore
from tests.support.cases import a_case

PDF = testing.sample_pdf("Bescheid")


class Relay:
    def __init__(self) -> None:
        self.sent: list[OutgoingMail] = []

    def send(self, mail: OutgoingMail) -> SmtpReceipt:
        self.sent.append(mail)
        return SmtpReceipt(mail.message_id, 250, True)


class NoBlobs(FilesystemBlobStore):
    def get(self, key: str) -> bytes:
        raise AssertionError("documents must not even be read without a key")


def email_case(address: str = "erika@example.org", key: str | None = None) -> Case:
    references = {"replyChannel": json.dumps({"kind": "email", "address": address,
                                              **({"pgpPublicKey": key} if key else {})})}
    return a_case(reply_channel=ReplyChannel(kind="email", address=address),
                  source=SourceReference(channel="fitconnect", id="s1", references=references))


def outgoing(case: Case, blobs: FilesystemBlobStore) -> OutgoingReply:
    key = blobs.put(PDF)
    return OutgoingReply(reply_id="5b0c7c1e-8a55-4a63-9d0a-1f5c2a8b9e01", delivery_id="d1", kind="decision",
                         title="Bescheid", text="Anbei.", case=case, recipient="erika@example.org",
                         documents=(ReplyDocument("bescheid", "Bescheid.pdf", "application/pdf", len(PDF), "0" * 128,
                                                  key),))


@pytest.fixture
def relay() -> Relay:
    return Relay()


@pytest.fixture
def channel(relay: Relay) -> EmailReplyChannel:
    return EmailReplyChannel(MailReplySender(testing.options(2525), relay=relay))  # type: ignore[arg-type]


def test_it_serves_the_applicants_who_chose_email_with_a_usable_address(channel: EmailReplyChannel) -> None:
    assert channel.recipient(email_case()) == "erika@example.org"
    assert channel.recipient(email_case("not an address")) is None
    assert channel.recipient(a_case(reply_channel=ReplyChannel(kind="postbox", address="x"))) is None
    assert channel.recipient(a_case()) is None


def test_with_the_applicants_key_the_decision_goes_encrypted_with_its_document(
        channel: EmailReplyChannel, relay: Relay, tmp_path: Path) -> None:
    blobs = FilesystemBlobStore(tmp_path)
    report = channel.deliver(outgoing(email_case(key=testing.key("citizen-rsa3072.pub")), blobs), blobs)
    [mail] = relay.sent
    assert (mail.encrypted, mail.documents, mail.rcpt_to) == (True, 1, "erika@example.org")
    assert (report.state, report.final, report.remote_id) == ("accepted", True, mail.message_id)
    assert report.remote_id == "<reply.5b0c7c1e-8a55-4a63-9d0a-1f5c2a8b9e01@gateway.tangerhuette.example>"
    assert b"%PDF" not in mail.data and b"Bescheid" not in mail.data.split(b"\r\n\r\n", 1)[1]


def test_without_a_key_a_notice_goes_and_no_document_is_read(channel: EmailReplyChannel, relay: Relay,
                                                             tmp_path: Path) -> None:
    blobs = FilesystemBlobStore(tmp_path)
    reply = outgoing(email_case(), blobs)
    report = channel.deliver(reply, NoBlobs(tmp_path))
    again = channel.deliver(reply, NoBlobs(tmp_path))
    assert [m.encrypted for m in relay.sent] == [False, False]
    assert relay.sent[0].message_id == relay.sent[1].message_id == report.remote_id == again.remote_id
    assert report.detail == "notice without personal data (no key)"
    assert channel.follow(reply, report) == report  # SMTP reports nothing more

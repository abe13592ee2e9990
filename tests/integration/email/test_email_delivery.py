"""Mail replies through the SMTP sandbox over real loopback: STARTTLS verified against the test CA,
AUTH, PGP/MIME decryptable with the applicant's key, the notice without personal data, failures."""

from __future__ import annotations

import email
import socket
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default
from typing import cast

import httpx
import pysequoia
import pytest

from adapters.email import testing
from adapters.email.errors import MailRejected, MailRelayUnavailable, MailRelayUnusable, RecipientKeyUnusable
from adapters.email.sandbox.store import Fault
from adapters.email.sender import MailReplySender
from gateway.errors import PermanentError, TransientError
from tests.conftest import REPO
from tests.integration.email.conftest import Relay
from tests.support.servers import free_port


def received(relay: Relay) -> list[EmailMessage]:
    return [cast(EmailMessage, email.message_from_bytes(m.raw, policy=default)) for m in relay.store.mails()]


def test_an_encrypted_decision_arrives_over_starttls_and_decrypts_with_the_applicants_key(relay: Relay) -> None:
    reply = testing.reply(key_name="citizen-rsa3072.pub")
    delivery = MailReplySender(testing.options(relay.port)).send(reply)
    assert (delivery.state, delivery.encrypted, delivery.documents, delivery.tls) == ("accepted", True, 2, True)
    [stored] = relay.store.mails()
    assert stored.tls and stored.authenticated_as == testing.SANDBOX_USER
    assert stored.rcpt_tos == ("erika.mustermann@example.org",)
    [mail] = received(relay)
    assert mail["Message-ID"] == delivery.message_id
    assert b"Mustermann" not in stored.raw.split(b"\r\n\r\n", 1)[1]  # only the To header names her
    armored = mail.get_payload()[1].get_payload()  # type: ignore[index]
    tsk = pysequoia.Tsk.from_bytes(testing.key("citizen-rsa3072.sec").encode())
    plain = pysequoia.decrypt(armored.encode(), tsk.decryptor()).bytes
    assert plain is not None
    inner = cast(EmailMessage, email.message_from_bytes(plain, policy=default))
    assert {p.get_filename(): p.get_content() for p in inner.iter_attachments()} == {
        d.filename: d.content for d in reply.documents}
    assert sorted(relay.mail_dir.glob("*.eml")) == [relay.mail_dir / "000001.eml"]


def test_without_a_key_the_mail_holds_no_name_address_or_document(relay: Relay) -> None:
    delivery = MailReplySender(testing.options(relay.port)).send(testing.reply())
    assert not delivery.encrypted and delivery.documents == 0
    [stored] = relay.store.mails()
    body = stored.raw.split(b"\r\n\r\n", 1)[1]
    for word in (b"Erika", b"Mustermann", b"Heidestra", b"Bello", b"%PDF", b"Anlage"):
        assert word not in body
    assert b"Mustermann" not in stored.raw.replace(b"erika.mustermann@example.org", b"")
    [mail] = received(relay)
    assert "https://portal.tangerhuette.example/postfach?vorgang=TGH-2026-000123" in mail.get_content()


def test_a_bad_key_is_refused_before_anything_is_sent(relay: Relay) -> None:
    with pytest.raises(RecipientKeyUnusable):
        MailReplySender(testing.options(relay.port)).send(testing.reply(key_name="sign-only.pub"))
    assert relay.store.mails() == []


def test_a_retry_sends_the_same_message_id_so_the_duplicate_is_recognisable(relay: Relay) -> None:
    sender = MailReplySender(testing.options(relay.port))
    first, second = sender.send(testing.reply("r-42")), sender.send(testing.reply("r-42"))
    assert first.message_id == second.message_id
    ids = [m["Message-ID"] for m in received(relay)]
    assert ids == [first.message_id, first.message_id]


@pytest.mark.parametrize(("stage", "code", "error", "kind"), [
    ("RCPT", 451, MailRelayUnavailable, TransientError),
    ("DATA", 452, MailRelayUnavailable, TransientError),
    ("MAIL", 421, MailRelayUnavailable, TransientError),
    ("RCPT", 550, MailRejected, PermanentError),
    ("DATA", 554, MailRejected, PermanentError),
])
def test_relay_answers_4xx_transient_5xx_permanent(relay: Relay, stage: str, code: int, error: type[Exception],
                                                   kind: type[Exception]) -> None:
    httpx.post(relay.url + "/api/faults", json={"stage": stage, "code": code, "text": "Sandbox says no"},
               timeout=5).raise_for_status()
    sender = MailReplySender(testing.options(relay.port))
    with pytest.raises(error, match=f"relay answered {code} to {stage}") as caught:
        sender.send(testing.reply())
    assert isinstance(caught.value, kind)
    assert relay.store.mails() == []
    sender.send(testing.reply())  # the fault was for one transaction only
    assert len(relay.store.mails()) == 1


def test_a_fault_for_one_recipient_leaves_the_others_alone(relay: Relay) -> None:
    relay.store.add_fault(Fault("RCPT", 550, "no such user", 5, "gone@example.org"))
    sender = MailReplySender(testing.options(relay.port))
    with pytest.raises(MailRejected):
        sender.send(testing.reply(to="gone@example.org"))
    sender.send(testing.reply(to="here@example.org"))
    assert [m.rcpt_tos for m in relay.store.mails()] == [("here@example.org",)]


def test_a_relay_certificate_from_another_ca_is_not_trusted(relay: Relay) -> None:
    options = testing.options(relay.port, ca=REPO / "fixtures" / "pki" / "test-root-ca.pem")
    with pytest.raises(MailRelayUnusable, match="not trusted") as caught:
        MailReplySender(options).send(testing.reply())
    assert isinstance(caught.value, TransientError)
    assert relay.store.mails() == []


def test_wrong_credentials_make_the_relay_unusable(relay: Relay) -> None:
    options = testing.options(relay.port, relay={"host": "127.0.0.1", "port": relay.port, "username": "gw",
                                                 "password": "wrong", "ca_file": str(testing.TEST_CA)})
    with pytest.raises(MailRelayUnusable, match="refused the credentials"):
        MailReplySender(options).send(testing.reply())


def test_plain_smtp_to_a_relay_that_demands_starttls_is_refused_by_the_relay(relay: Relay) -> None:
    options = testing.options(relay.port, auth=False,
                              relay={"host": "127.0.0.1", "port": relay.port, "tls": "none-test-only"})
    with pytest.raises(MailRelayUnusable, match="530"):
        MailReplySender(options).send(testing.reply())
    assert relay.store.mails() == []


def test_a_relay_without_starttls_gets_nothing(plain_relay: Relay) -> None:
    with pytest.raises(MailRelayUnusable, match="does not offer STARTTLS"):
        MailReplySender(testing.options(plain_relay.port, auth=False)).send(testing.reply())
    assert plain_relay.store.mails() == []
    # Only the explicit test-only option sends in clear (and only to loopback).
    options = testing.options(plain_relay.port, auth=False,
                              relay={"host": "127.0.0.1", "port": plain_relay.port, "tls": "none-test-only"})
    assert MailReplySender(options).send(testing.reply()).tls is False
    assert [m.tls for m in plain_relay.store.mails()] == [False]


def test_nothing_listening_is_an_outage() -> None:
    with pytest.raises(MailRelayUnavailable, match="cannot reach the relay"):
        MailReplySender(testing.options(free_port())).send(testing.reply())


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts connections and never says a word (a hanging relay)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def run() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join(5)
    for conn in accepted:
        conn.close()
    listener.close()


def test_a_hanging_relay_times_out(silent_server: int) -> None:
    options = testing.options(silent_server, relay={"host": "127.0.0.1", "port": silent_server,
                                                    "timeout_seconds": 0.5, "ca_file": str(testing.TEST_CA)})
    with pytest.raises(MailRelayUnavailable, match=r"within 0\.5 s"):
        MailReplySender(options).send(testing.reply())

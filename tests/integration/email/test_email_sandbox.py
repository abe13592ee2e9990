"""The SMTP sandbox shows what arrived: mails per recipient (HTML), JSON, raw; it can be emptied."""

from __future__ import annotations

import logging

import httpx
import pytest

from adapters.email import testing
from adapters.email.sender import MailReplySender
from tests.integration.email.conftest import Relay


def test_the_mailbox_page_and_json_list_mail_per_recipient(relay: Relay) -> None:
    sender = MailReplySender(testing.options(relay.port))
    sender.send(testing.reply("a-1", to="anna@example.org"))
    sender.send(testing.reply("b-1", to="bernd@example.org", key_name="citizen-cv25519.pub"))
    page = httpx.get(relay.url + "/", timeout=5)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "anna@example.org (1)" in page.text and "bernd@example.org (1)" in page.text
    assert "PGP/MIME" in page.text and "TEST ONLY" in page.text
    anna = httpx.get(relay.url + "/api/messages", params={"recipient": "ANNA@example.org"}, timeout=5).json()
    assert [(m["message_id"], m["encrypted"], m["tls"]) for m in anna] == [
        ("<reply.a-1@gateway.tangerhuette.example>", False, True)]
    everything = httpx.get(relay.url + "/api/messages", timeout=5).json()
    assert len(everything) == 2
    one = httpx.get(f"{relay.url}/messages/{everything[1]['id']}", timeout=5)
    assert "BEGIN PGP MESSAGE" in one.text
    raw = httpx.get(f"{relay.url}/api/messages/{everything[0]['id']}/raw", timeout=5)
    assert raw.headers["content-type"] == "message/rfc822" and b"Message-ID: <reply.a-1@" in raw.content
    assert httpx.get(relay.url + "/api/messages/999", timeout=5).status_code == 404
    assert httpx.delete(relay.url + "/api/messages", timeout=5).status_code == 204
    assert httpx.get(relay.url + "/api/messages", timeout=5).json() == []


def test_fault_requests_are_validated(relay: Relay) -> None:
    assert httpx.post(relay.url + "/api/faults", json={"stage": "HELO", "code": 451}, timeout=5).status_code == 422
    assert httpx.post(relay.url + "/api/faults", json={"stage": "RCPT", "code": 250}, timeout=5).status_code == 422
    assert httpx.post(relay.url + "/api/faults", json={"stage": "RCPT", "code": 451, "count": 3},
                      timeout=5).status_code == 201
    assert httpx.delete(relay.url + "/api/faults", timeout=5).status_code == 204
    MailReplySender(testing.options(relay.port)).send(testing.reply())
    assert len(relay.store.mails()) == 1


def test_the_sandbox_logs_no_envelope_address(relay: Relay, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    MailReplySender(testing.options(relay.port)).send(testing.reply("c-1", to="carla@example.org"))
    assert len(relay.store.mails()) == 1
    assert "carla@example.org" not in caplog.text

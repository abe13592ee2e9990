"""The real reply channels end to end: a gateway with the e-mail, hybrid-mail and XTA adapters
against their sandboxes on loopback ports, the shipped catalog and mappings. Decisions arrive
encrypted (or as a notice) in the mailbox, as letters at the E-POST sandbox, as answers in the
XTA sender's mailbox; refusals hand over, outages end dead and are replayed."""

from __future__ import annotations

import email
import json
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any, cast

import httpx
import pysequoia
import pytest

from adapters.email import testing as email_testing
from adapters.email.sandbox.app import create_app as email_sandbox
from adapters.email.sandbox.config import SandboxConfig as MailConfig
from adapters.email.sandbox.store import Fault, MailStore
from adapters.hybridmail import testing as letter_testing
from adapters.hybridmail.sandbox.app import create_app as epost_sandbox
from adapters.hybridmail.sandbox.config import SandboxConfig as EPostConfig
from adapters.hybridmail.sandbox.state import EPostSandbox
from adapters.xta import samples
from adapters.xta import testing as xta_testing
from adapters.xta.client import XtaClient
from adapters.xta.options import DEMO_ANSWER
from adapters.xta.sandbox.app import create_app as xta_sandbox
from adapters.xta.sandbox.store import SandboxState
from gateway.safexml import parse
from gateway.safexml_schemas import load_schema
from tests.conftest import REPO, TENANT
from tests.e2e.conftest import Api, new_key, running_gateway
from tests.support.servers import free_port, serve_app

HUND = "99108008001000"
SAMPLE = REPO / "fixtures" / "mappings" / "portal.hund-anmelden" / "halterin-zwei-hunde.input.json"


class Stack:
    def __init__(self, api: Api, mail: MailStore, epost: EPostSandbox, xta: SandboxState, xta_url: str,
                 tmp: Path) -> None:
        self.api, self.mail, self.epost, self.xta, self.xta_url, self.tmp = api, mail, epost, xta, xta_url, tmp

    def portal_case(self, reply_channel: dict[str, Any] | None) -> str:
        envelope: dict[str, Any] = {"tenant": TENANT, "service": HUND, "form": "hund-anmelden",
                                    "submitted_at": "2026-11-21T09:30:00+01:00",
                                    "data": json.loads(SAMPLE.read_text(encoding="utf-8"))}
        if reply_channel is not None:
            envelope["reply_channel"] = reply_channel
        return str(self.api.create_case(envelope, session=self.api.citizen_session("substantiell"))["case_id"])

    def decision(self, case_id: str, title: str = "Bescheid über die Hundesteuer") -> dict[str, Any]:
        document = letter_testing.letter_pdf(self.tmp / f"{case_id}.pdf").read_bytes()
        reply = {"kind": "decision", "title": title, "text": "Sehr geehrte Frau Mustermann,\nanbei Ihr Bescheid.",
                 "documents": [{"id": "bescheid", "filename": "Bescheid.pdf"}]}
        response = self.api.http.post(f"/v1/cases/{case_id}/replies", headers=self.api.auth(
            "fach", **{"Idempotency-Key": new_key()}), files={
            "reply": (None, json.dumps(reply), "application/json"),
            "bescheid": ("Bescheid.pdf", document, "application/pdf")})
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        body["pdf"] = document
        return body

    def deliveries(self, case_id: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.api.case(case_id)["replies"][-1]["deliveries"]
        return result

    def until(self, done: Callable[[], bool], seconds: float = 20) -> None:
        deadline = time.monotonic() + seconds
        while not done():
            assert time.monotonic() < deadline, "timed out"
            self.api.gw.worker.run_once()
            time.sleep(0.05)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("reply-channels")
    smtp_port = free_port()
    mail_app = email_sandbox(MailConfig(smtp_port=smtp_port))
    epost_app = epost_sandbox(EPostConfig(step_seconds=0.3))
    xta_app = xta_sandbox()
    with serve_app(mail_app, health_path="/healthz"), serve_app(epost_app, health_path="/healthz") as epost_url, \
            serve_app(xta_app, health_path="/health") as xta_url:
        mail = email_testing.options(smtp_port, auth=False).model_dump(mode="json")
        adapters = {
            "portal": {},
            "email": mail,
            "hybridmail": {**letter_testing.options(epost_url).model_dump(mode="json"),
                           "secret": letter_testing.DEMO_ACCOUNT.secret,
                           "password": letter_testing.DEMO_ACCOUNT.password},
            "xta": xta_testing.options(xta_url, answers={samples.GEWERBE.code: DEMO_ANSWER.model_dump()}),
        }
        adapters["email"]["relay"].pop("password", None)
        # demo: the sandboxes' published credentials are accepted
        with running_gateway(tmp / "gateway", demo=True, mappings_dir=REPO / "mappings", fixtures_dir=REPO / "fixtures",
                             adapters=adapters, delivery_max_attempts=2,
                             replies={"follow_interval_seconds": 0.1, "follow_max_interval_seconds": 0.2}) as api:
            yield Stack(api, mail_app.state.mail, epost_app.state.epost, xta_app.state.xta, xta_url, tmp)


def mails_to(stack: Stack, address: str) -> list[EmailMessage]:
    return [cast(EmailMessage, email.message_from_bytes(m.raw, policy=default)) for m in stack.mail.mails(address)]


def test_the_reply_channels_are_registered_from_their_plugins(stack: Stack) -> None:
    assert {"email", "hybridmail", "xta"} <= set(stack.api.gw.adapters.reply_channels)


def test_an_encrypted_decision_with_its_pdf_arrives_in_the_mailbox(stack: Stack) -> None:
    address = "erika.key@example.org"
    case_id = stack.portal_case({"kind": "email", "address": address,
                                 "pgp_public_key": email_testing.key("citizen-rsa3072.pub")})
    reply = stack.decision(case_id)
    stack.until(lambda: stack.deliveries(case_id)[0]["state"] != "queued")
    [delivery] = stack.deliveries(case_id)
    assert (delivery["channel"], delivery["state"]) == ("email", "accepted")
    assert delivery["remote_id"] == f"<reply.{reply['id']}@gateway.tangerhuette.example>"
    [mail] = mails_to(stack, address)
    assert mail["Message-ID"] == delivery["remote_id"] and mail.get_content_type() == "multipart/encrypted"
    armored = mail.get_payload()[1].get_payload()  # type: ignore[index]
    tsk = pysequoia.Tsk.from_bytes(email_testing.key("citizen-rsa3072.sec").encode())
    inner = cast(EmailMessage, email.message_from_bytes(
        pysequoia.decrypt(armored.encode(), tsk.decryptor()).bytes or b"", policy=default))
    assert {p.get_filename(): p.get_content() for p in inner.iter_attachments()} == {"Bescheid.pdf": reply["pdf"]}
    # nothing more to learn over SMTP: the delivery is not followed
    assert stack.api.gw.worker.follow_replies() == 0


def test_without_a_key_the_mailbox_gets_a_notice_without_personal_data(stack: Stack) -> None:
    case_id = stack.portal_case(None)  # the form's own choice: e-mail to erika.mustermann@example.org
    stack.decision(case_id)
    stack.until(lambda: stack.deliveries(case_id)[0]["state"] != "queued")
    assert stack.deliveries(case_id)[0]["detail"] == "notice without personal data (no key)"
    raw = stack.mail.mails("erika.mustermann@example.org")[-1].raw
    body = raw.split(b"\r\n\r\n", 1)[1]
    for word in (b"Mustermann", b"Lindenstra", b"Bello", b"%PDF", b"Hundesteuer"):
        assert word not in body


def test_a_letter_goes_to_the_epost_sandbox_and_its_status_comes_back(stack: Stack) -> None:
    case_id = stack.portal_case({"kind": "post", "address": "-"})  # post: no electronic channel wanted
    reply = stack.decision(case_id)
    stack.until(lambda: stack.deliveries(case_id)[0]["state"] == "delivered", seconds=30)
    [delivery] = stack.deliveries(case_id)
    assert delivery["channel"] == "hybridmail"
    states = [h["state"] for h in delivery["history"]]  # how many steps a look sees depends on timing
    assert states[:2] == ["queued", "sent"] and states[-1] == "delivered"
    assert states == sorted(states, key=["queued", "sent", "accepted", "delivered"].index)
    [letter] = [x for x in stack.epost.letters.values() if x.fields["custom1"] == delivery["id"]]
    assert str(letter.letter_id) == delivery["remote_id"]
    assert (letter.fields["addressLine1"], letter.fields["zipCode"]) == ("Erika Mustermann", "39517")
    assert letter.pages == 3  # the generated cover page in front of the two pages of the decision
    assert reply["pdf"][:5] == b"%PDF-"


def test_an_xta_case_is_answered_in_the_senders_mailbox(stack: Stack) -> None:
    with httpx.Client(timeout=30) as http:
        portal = XtaClient(stack.xta_url, samples.STATE_PORTAL, http)
        incoming = samples.post(portal, samples.GEWERBE, samples.GEWERBE.fixtures()[0].read_bytes())
        stack.api.gw.worker.poll_sources(force=True)
        stack.api.gw.worker.run_until_idle()
        [case] = [c for c in stack.api.get("/v1/cases", params={"limit": 500}).json()["items"]
                  if c["channel"] == "xta"]
        reply = stack.decision(case["id"], title="Gewerbeanmeldung bestätigt")
        stack.until(lambda: stack.deliveries(case["id"])[0]["state"] != "queued")
        [delivery] = stack.deliveries(case["id"])
        assert (delivery["channel"], delivery["state"], delivery["recipient"]) == (
            "xta", "sent", samples.STATE_PORTAL.value)
        answer = stack.xta.messages[delivery["remote_id"]]
        meta = answer.metadata
        assert (meta.reader.value, meta.author.value, meta.in_reply_to) == (
            samples.STATE_PORTAL.value, samples.TOWN.value, (incoming,))
        assert (meta.message_type.code, meta.payload_schema) == (DEMO_ANSWER.message_type, DEMO_ANSWER.payload_schema)
        assert [a.data for a in answer.attachments] == [reply["pdf"]]
        document = parse(answer.message.data)
        load_schema(REPO / "schemas" / "xoev" / "rathaus-antwort-1.0.xsd").validate(document, label="answer")
        assert document.findtext("{urn:rathaus-gateway:xoev:antwort:1.0}titel") == "Gewerbeanmeldung bestätigt"
        # visible for people: the sender's mailbox page lists it, the message page shows it
        page = http.get(f"{stack.xta_url}/sandbox/mailboxes").text
        assert delivery["remote_id"] in page and incoming in page
        shown = http.get(f"{stack.xta_url}/sandbox/messages/{delivery['remote_id']}").text
        assert "Gewerbeanmeldung bestätigt" in shown and "Bescheid.pdf" in shown
        # the state portal fetches the answer and closes it: the delivery is followed to "delivered"
        assert delivery["remote_id"] in [e.message_id for e in portal.get_status_list().entries]
        portal.get_message(delivery["remote_id"])
        portal.close([delivery["remote_id"]])
    stack.until(lambda: stack.deliveries(case["id"])[0]["state"] == "delivered")


def test_a_relay_that_refuses_hands_the_decision_to_the_letter(stack: Stack) -> None:
    address = "unknown.mailbox@example.org"
    stack.mail.add_fault(Fault(stage="RCPT", code=550, text="no such user", recipient=address))
    case_id = stack.portal_case({"kind": "email", "address": address})
    stack.decision(case_id)
    stack.until(lambda: len(stack.deliveries(case_id)) == 2 and stack.deliveries(case_id)[1]["state"] != "queued")
    refused, letter = stack.deliveries(case_id)
    assert (refused["channel"], refused["state"], letter["channel"], letter["state"]) == (
        "email", "failed", "hybridmail", "sent")
    assert refused["problem"]["type"].endswith("/mail-rejected") and refused["problem"]["smtp_code"] == 550
    assert "no such user" not in json.dumps(refused)  # the relay's own text is never repeated


def test_a_relay_that_is_down_ends_dead_and_is_replayed(stack: Stack) -> None:
    address = "later@example.org"
    stack.mail.add_fault(Fault(stage="MAIL", code=451, text="try later", count=2))
    case_id = stack.portal_case({"kind": "email", "address": address})
    stack.decision(case_id)
    stack.until(lambda: stack.deliveries(case_id)[0]["state"] == "dead")
    [dead] = stack.deliveries(case_id)
    assert dead["attempts"] == 2 and dead["problem"]["type"].endswith("/mail-relay-unavailable")
    admin = stack.api.get("/v1/admin/reply-deliveries", client="admin").json()
    assert dead["id"] in [d["id"] for d in admin]
    replayed = stack.api.http.post(f"/v1/admin/reply-deliveries/{dead['id']}/replay",
                                   headers=stack.api.auth("admin"))
    assert replayed.status_code == 200
    stack.until(lambda: stack.deliveries(case_id)[0]["state"] == "accepted")
    assert len(stack.mail.mails(address)) == 1

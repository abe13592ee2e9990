"""The postbox reply channel against the sandbox ZBP bridge: decisions land in the right
mailbox, status updates in the status monitor, refusals come back as failed deliveries, and a
delivery repeated after a crash is sent once."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters.fitconnect import pki, testing, zbp
from adapters.fitconnect.outbound import Application
from adapters.fitconnect.plugin import Wiring
from adapters.fitconnect.postbox import STATE_NAMESPACE, PostboxChannel
from adapters.fitconnect.sandbox.app import create_app
from adapters.fitconnect.sandbox.config import ZBP_DESTINATION, demo_config
from adapters.fitconnect.sandbox.postbox import Postbox
from adapters.fitconnect.testing import SandboxEnv
from adapters.fitconnect.zbp_payload import PostboxRefused
from gateway.ports import DeliveryReport, OutgoingReply
from tests.support.servers import serve_app

MAILBOX = "5f0c2b1e-8d4a-4c7e-9b3f-2a6d8e1c0f47"


@pytest.fixture(scope="module")
def zbp_served() -> Iterator[tuple[str, Any]]:
    app = create_app(demo_config())
    with serve_app(app, health_path="/health") as url:
        yield url, app


@pytest.fixture
def zenv(zbp_served: tuple[str, Any], tmp_path: Any, sqlite_state: Any) -> SandboxEnv:
    return SandboxEnv(zbp_served[0], zbp_served[1].state.sandbox, tmp_path, sqlite_state)


@pytest.fixture
def postbox(zbp_served: tuple[str, Any]) -> Postbox:
    found: Postbox = zbp_served[1].state.postbox
    return found


def channel(env: SandboxEnv, **options: Any) -> PostboxChannel:
    wiring: Wiring = env.wiring(postbox=testing.postbox_options(**options))
    assert wiring.postbox is not None
    return wiring.postbox


def followed(postbox: PostboxChannel, reply: OutgoingReply, sent: DeliveryReport) -> DeliveryReport:
    deadline = time.monotonic() + 20
    report = sent
    while report.state == "sent" and time.monotonic() < deadline:
        time.sleep(0.05)
        report = postbox.follow(reply, report)
    return report


def bridge_submissions(env: SandboxEnv) -> int:
    return sum(1 for s in env.sandbox.submissions.values() if s.destination_id == ZBP_DESTINATION)


def test_a_decision_with_its_pdf_lands_in_the_citizens_mailbox(zenv: SandboxEnv, postbox: Postbox) -> None:
    pdf = testing.test_pdf(f"decision {uuid.uuid4()}", 200_000)
    pb = channel(zenv)
    case = testing.make_case(zenv.blobs, mailbox=MAILBOX.upper())
    assert pb.recipient(case) == MAILBOX
    reply = testing.reply_for(case, zenv.blobs, MAILBOX, documents=[("bescheid.pdf", pdf)])
    before = len(postbox.messages(MAILBOX))
    sent = pb.deliver(reply, zenv.blobs)
    assert sent.state == "sent" and sent.remote_id is not None
    assert followed(pb, reply, sent) == DeliveryReport(state="accepted", remote_id=sent.remote_id, final=True)
    filed = postbox.messages(MAILBOX)[before:]
    assert len(filed) == 1
    message = filed[0].payload
    assert (message["title"], message["reference"], message["service"]) == (reply.title, case.reference,
                                                                              "Gewerbe anmelden")
    assert message["stork_qaa_level"] == 3 and message["mailboxUuid"] == MAILBOX
    assert message["attachments"] == [{"filename": "bescheid.pdf", "sha512sum": hashlib.sha512(pdf).hexdigest(),
                                       "contentLength": len(pdf)}]
    assert filed[0].documents[0].path.read_bytes() == pdf
    page = zenv.url
    assert reply.title in httpx.get(f"{page}/postbox/{MAILBOX}").text
    listed = httpx.get(f"{page}/postbox/api/mailboxes/{MAILBOX}/messages").json()["messages"]
    assert [m["submissionId"] for m in listed][-1] == sent.remote_id.split("/")[1]
    document = httpx.get(f"{page}/postbox/{MAILBOX}/messages/{filed[0].id}/documents/0")
    assert document.content == pdf and document.headers["content-type"] == "application/pdf"


def test_a_status_update_lands_in_the_status_monitor(zenv: SandboxEnv, postbox: Postbox) -> None:
    pb = channel(zenv)
    application = str(uuid.uuid4())
    case = testing.make_case(zenv.blobs, references={"zbpApplicationId": application})
    reply = testing.reply_for(case, zenv.blobs, MAILBOX, kind="status", status="in_progress",
                              title="In Bearbeitung", text="Ihr Antrag wird bearbeitet.")
    sent = pb.deliver(reply, zenv.blobs)
    assert followed(pb, reply, sent).state == "accepted"
    states = postbox.applications[application]
    assert [s["status"] for s in states] == ["PROCESSING"]
    assert states[0]["publicServiceName"] == {"de": "Gewerbe anmelden"}
    assert states[0]["senderName"] == "Stadt Tangerhütte (TEST)"
    assert states[0]["statusDetails"] == {"de": "In Bearbeitung"}


def tampered(pb: PostboxChannel, change: Any) -> None:
    """Let the channel build and sign its submission, then change it on the way (the attacker)."""
    build = pb.application

    def build_then_change(reply: OutgoingReply, blobs: Any) -> Application:
        return change(build(reply, blobs))

    pb.application = build_then_change  # type: ignore[method-assign]


def _content_changed(app: Application) -> Application:
    envelope = orjson.loads(app.data)
    content = orjson.loads(envelope["content"])
    envelope["content"] = orjson.dumps({**content, "title": "Bescheid (geändert)"}).decode()
    return dataclasses.replace(app, data=orjson.dumps(envelope))


def _document_changed(app: Application) -> Application:
    first = app.attachments[0]
    return dataclasses.replace(app, attachments=[dataclasses.replace(first, content=first.content + b" ")])


def _expired_token(app: Application) -> Application:
    envelope = orjson.loads(app.data)
    envelope["authorToken"] = zbp.author_token(AUTHOR, now=time.time() - 3600)
    return dataclasses.replace(app, data=orjson.dumps(envelope))


AUTHOR = zbp.Author.load(testing.REPO / "fixtures/fitconnect/zbp/tangerhuette-author-2026.key.pem",
                         testing.REPO / "fixtures/fitconnect/zbp/tangerhuette-author-2026.cert.pem")


@pytest.mark.parametrize(("change", "slug"), [(_content_changed, "zbp-signature-invalid"),
                                              (_document_changed, "hash-mismatch"),
                                              (_expired_token, "zbp-author-token-invalid")])
def test_a_tampered_envelope_is_rejected_and_follow_reports_the_problem(zenv: SandboxEnv, postbox: Postbox,
                                                                         change: Any, slug: str) -> None:
    pb = channel(zenv)
    tampered(pb, change)
    case = testing.make_case(zenv.blobs)
    reply = testing.reply_for(case, zenv.blobs, MAILBOX, documents=[("bescheid.pdf", testing.test_pdf("tamper"))])
    before = len(postbox.messages(MAILBOX))
    report = followed(pb, reply, pb.deliver(reply, zenv.blobs))
    assert report.state == "failed"
    assert report.detail is not None and report.detail.startswith(f"rejected by the postbox: {slug} (")
    assert "Beispiel" not in report.detail and MAILBOX not in report.detail  # no personal data
    assert len(postbox.messages(MAILBOX)) == before


def _untrusted_author(tmp_path: Any) -> dict[str, str]:
    key = rsa.generate_private_key(65537, 2048)
    now = dt.datetime.now(dt.UTC)
    cert = pki.issue_certificate(key.public_key(), "Somebody (not BPKI)", key, None, "signature",
                                 now - dt.timedelta(days=1), now + dt.timedelta(days=30))
    (tmp_path / "author.key.pem").write_bytes(pki.key_pem(key))
    (tmp_path / "author.cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    assert isinstance(cert, x509.Certificate) and cert.signature_hash_algorithm.name == hashes.SHA256().name
    return {"author_key": str(tmp_path / "author.key.pem"), "author_certificate": str(tmp_path / "author.cert.pem")}


def test_an_author_without_a_trusted_certificate_is_rejected(zenv: SandboxEnv, tmp_path: Any) -> None:
    pb = channel(zenv, **_untrusted_author(tmp_path))
    case = testing.make_case(zenv.blobs)
    reply = testing.reply_for(case, zenv.blobs, MAILBOX)
    report = followed(pb, reply, pb.deliver(reply, zenv.blobs))
    assert report.state == "failed" and "zbp-author-certificate-invalid" in (report.detail or "")


def test_a_postbox_told_to_refuse_fails_the_delivery(zenv: SandboxEnv, postbox: Postbox) -> None:
    mailbox = str(uuid.uuid4())
    postbox.refuse(mailbox, "mailbox closed (TEST)")
    pb = channel(zenv)
    case = testing.make_case(zenv.blobs, mailbox=mailbox)
    reply = testing.reply_for(case, zenv.blobs, mailbox)
    report = followed(pb, reply, pb.deliver(reply, zenv.blobs))
    assert report.state == "failed" and report.detail == "rejected by the postbox: zbp-refused (Vom Postfach abgelehnt)"
    assert postbox.messages(mailbox) == []


def test_a_delivery_repeated_after_a_crash_is_sent_once(zenv: SandboxEnv, postbox: Postbox,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    first = channel(zenv)
    case = testing.make_case(zenv.blobs)
    reply = testing.reply_for(case, zenv.blobs, MAILBOX, documents=[("bescheid.pdf", testing.test_pdf("crash"))])
    monkeypatch.setattr(first.outbound, "upload_and_submit", lambda *a, **k: (_ for _ in ()).throw(
        RuntimeError("killed during the upload")))
    before, sent_before = bridge_submissions(zenv), len(postbox.messages(MAILBOX))
    with pytest.raises(RuntimeError):
        first.deliver(reply, zenv.blobs)
    assert zenv.state.get(STATE_NAMESPACE, reply.delivery_id) is not None  # recorded before the upload
    restarted = channel(zenv)  # another process after the restart, same database
    sent = restarted.deliver(reply, zenv.blobs)
    again = channel(zenv).deliver(reply, zenv.blobs)  # the core retries once more: only reported
    assert again == sent
    assert followed(restarted, reply, sent).state == "accepted"
    assert bridge_submissions(zenv) == before + 1
    mine = [m for m in postbox.messages(MAILBOX)[sent_before:] if m.payload["reference"] == case.reference]
    assert len(mine) == 1


def test_replies_the_postbox_cannot_take_are_refused_before_anything_is_sent(zenv: SandboxEnv) -> None:
    pb = channel(zenv, max_document_bytes=1024)
    case = testing.make_case(zenv.blobs)
    before = bridge_submissions(zenv)
    twice = testing.reply_for(case, zenv.blobs, MAILBOX, documents=[("a.pdf", b"%PDF-1 a"), ("a.pdf", b"%PDF-1 b")])
    large = testing.reply_for(case, zenv.blobs, MAILBOX, documents=[("a.pdf", testing.test_pdf("big", 4096))])
    unknown_status = testing.reply_for(case, zenv.blobs, MAILBOX, kind="status", status="lost")
    no_mailbox = testing.reply_for(case, zenv.blobs, "not-a-mailbox")
    too_long = testing.reply_for(case, zenv.blobs, MAILBOX, title="x" * 1025)
    for reply in (twice, large, unknown_status, no_mailbox, too_long):
        with pytest.raises(PostboxRefused):
            pb.deliver(reply, zenv.blobs)
    assert bridge_submissions(zenv) == before


def test_recipient_is_the_mailbox_the_application_named_or_the_logins(zenv: SandboxEnv) -> None:
    pb = channel(zenv)
    other = str(uuid.uuid4())
    named = testing.make_case(zenv.blobs, mailbox=None, reply_channel={"kind": "postbox", "address": f"bundid:{other}"})
    assert pb.recipient(named) == other
    assert pb.recipient(testing.make_case(zenv.blobs, mailbox=None)) is None
    assert pb.recipient(testing.make_case(zenv.blobs, mailbox="not-a-uuid")) is None


def test_a_submission_deleted_before_the_postbox_took_it_fails(zenv: SandboxEnv, postbox: Postbox,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zenv.sandbox, "on_submitted", [])  # the bridge is down: nothing decides
    pb = channel(zenv)
    reply = testing.reply_for(testing.make_case(zenv.blobs), zenv.blobs, MAILBOX)
    sent = pb.deliver(reply, zenv.blobs)
    assert pb.follow(reply, sent) == sent  # nothing known yet: unchanged
    submission_id = (sent.remote_id or "").split("/")[1]
    zenv.sandbox.record("delete-submission", zenv.sandbox.submissions[submission_id], {})
    report = pb.follow(reply, sent)
    assert report.state == "failed" and report.detail == \
        "the Zustelldienst deleted the submission before the postbox took it"

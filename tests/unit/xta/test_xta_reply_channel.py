"""The XTA reply channel: the answer to an XTA case goes to the message's author, labelled with
the answer type configured for its format, In-Reply-To the incoming MessageID, exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.xta import samples, testing
from adapters.xta.answer import NAMESPACE, SCHEMA, answer_document
from adapters.xta.options import DEMO_ANSWER
from adapters.xta.plugin import build_all, load_options
from adapters.xta.reply_channel import XtaReplyChannel
from adapters.xta.sandbox.store import SandboxState
from gateway.case.model import Case, SourceReference
from gateway.ports import DeliveryReport, OutgoingReply, ReplyDocument
from gateway.safexml import parse
from gateway.safexml_schemas import load_schema
from gateway.store.blobs import FilesystemBlobStore
from tests.support.cases import NOW, a_case

REPO = Path(__file__).resolve().parents[3]
INCOMING = "urn:de:xta:messageid:xtasandbox:0b9e4c61-8f2a-4a1e-9c55-1d2e3f4a5b6c"
PDF = b"%PDF-1.4\n% Bescheid (TEST)\n%%EOF\n"


def xta_case(message_type: str = samples.GEWERBE.code, channel: str = "xta") -> Case:
    return a_case(source=SourceReference(channel=channel, id=INCOMING, references={
        "messageType": message_type, "author": samples.STATE_PORTAL.value, "service": samples.GEWERBE.service}))


@pytest.fixture
def parts(tmp_path: Path) -> tuple[XtaReplyChannel, SandboxState, FilesystemBlobStore]:
    http, state = testing.sandbox_http()
    options = load_options(testing.options(answers={samples.GEWERBE.code: DEMO_ANSWER.model_dump()}))
    blobs = FilesystemBlobStore(tmp_path / "blobs")
    *_, replies = build_all(options, REPO, testing.state_store(tmp_path / "gateway.db"), blobs, http)
    return replies, state, blobs


def outgoing(case: Case, blobs: FilesystemBlobStore, delivery_id: str = "d-1", kind: str = "decision"
             ) -> OutgoingReply:
    key = blobs.put(PDF)
    return OutgoingReply(reply_id="r-1", delivery_id=delivery_id, kind=kind, title="Gewerbeanmeldung bestätigt",  # type: ignore[arg-type]
                         text="Ihre Anmeldung ist eingetragen.\nMit freundlichen Grüßen", case=case,
                         recipient=samples.STATE_PORTAL.value,
                         documents=(ReplyDocument("b", "Bescheid.pdf", "application/pdf", len(PDF), "e" * 128, key),))


def test_it_answers_xta_cases_of_formats_with_an_answer_type_only(
        parts: tuple[XtaReplyChannel, SandboxState, FilesystemBlobStore]) -> None:
    channel = parts[0]
    assert channel.recipient(xta_case()) == samples.STATE_PORTAL.value
    assert channel.recipient(xta_case(samples.WOHNGELD.code)) is None  # no answer type configured
    assert channel.recipient(xta_case(channel="portal")) is None
    assert channel.recipient(a_case()) is None


def test_the_answer_reaches_the_authors_mailbox_once_in_reply_to_the_application(
        parts: tuple[XtaReplyChannel, SandboxState, FilesystemBlobStore]) -> None:
    channel, state, blobs = parts
    reply = outgoing(xta_case(), blobs)
    report = channel.deliver(reply, blobs)
    again = channel.deliver(reply, blobs)  # a retry after a crash: the same MessageID, nothing new
    assert (report.state, again.remote_id) == ("sent", report.remote_id)
    assert [mid for mid, m in state.messages.items() if m.metadata.reader.value == samples.STATE_PORTAL.value] == [
        report.remote_id]
    stored = state.messages[report.remote_id]
    meta = stored.metadata
    assert (meta.author.value, meta.in_reply_to, meta.subject) == (samples.TOWN.value, (INCOMING,), "TGH-2026-000001")
    assert (meta.message_type.code, meta.service, meta.business_scenario.code) == (
        "rathaus.antwort.0100", DEMO_ANSWER.service, DEMO_ANSWER.business_scenario)
    assert [(a.filename, a.data) for a in stored.attachments] == [("Bescheid.pdf", PDF)]
    assert channel.follow(reply, report).state == "sent"  # not fetched yet
    stored.closed = True  # the author fetched and closed it
    followed = channel.follow(reply, report)
    assert (followed.state, followed.final) == ("delivered", True)
    assert channel.follow(reply, DeliveryReport("sent")) == DeliveryReport("sent")


def test_the_answer_document_follows_its_schema() -> None:
    case = xta_case()
    reply = OutgoingReply(reply_id="r", delivery_id="d", kind="status", title="Statusmeldung", text="in Arbeit",
                          documents=(ReplyDocument("b", "Anlage.pdf", "application/pdf", 10, "a" * 128, "k"),),
                          case=case, recipient="x", status="in_progress")
    document = parse(answer_document(reply, "Stadt Tangerhütte", NOW))
    load_schema(REPO / "schemas" / SCHEMA).validate(document, label="answer")
    assert document.findtext(f"{{{NAMESPACE}}}art") == "statusmeldung"
    assert document.find(f"{{{NAMESPACE}}}bezug").get("nachricht") == INCOMING  # type: ignore[union-attr]

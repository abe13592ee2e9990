"""End to end: the state portal sends over XTA, the gateway fetches, verifies, maps, commits
and only then closes the message; every failure ends in quarantine or a retry, nothing lost."""

from __future__ import annotations

import hashlib
import os
import time

import pytest
from lxml import etree

from adapters.xta import errors as xta_errors
from adapters.xta import samples
from adapters.xta.client import Content
from adapters.xta.sender import NAMESPACE, state_key
from gateway.bootstrap import Gateway
from gateway.errors import PermanentError
from gateway.ports import InboundMessage, VerifiedSubmission
from gateway.store import case_repo, outbox_repo
from tests.e2e.xta.conftest import Stack


def _work(gateway: Gateway, rounds: int = 5) -> None:
    # Retries are due after the (test-sized) backoff of a few hundredths of a second.
    for _ in range(rounds):
        gateway.worker.run_until_idle()
        time.sleep(0.06)


def _cases(gateway: Gateway) -> list[object]:
    with gateway.db.reading() as conn:
        return [case for _, case in case_repo.list_cases(conn, case_repo.CaseFilter(limit=500))]


def test_messages_become_cases_with_multi_megabyte_attachments(stack: Stack) -> None:
    scan = os.urandom(6 * 1024 * 1024)
    wohngeld = samples.post(stack.portal, samples.WOHNGELD, samples.WOHNGELD.fixtures()[0].read_bytes(),
                                             [Content(scan, "application/pdf", "mietvertrag.pdf", "Mietvertrag"),
                                              Content(b"%PDF small", "application/pdf", "ausweis.pdf")])
    gewerbe = samples.post(stack.portal, samples.GEWERBE, samples.GEWERBE.fixtures()[1].read_bytes())
    gateway = stack.make_gateway()
    _work(gateway)

    case = gateway.queries.case_by_source("xta", wohngeld)
    assert case is not None
    assert (case.service.leika, case.service.mapping_id) == ("99107006001000", "xoev.wohngeld-mietzuschuss")
    assert case.applicant.party.family_name == "Musterfrau"  # type: ignore[union-attr]
    assert case.source.references["messageType"] == samples.WOHNGELD.code
    big = next(a for a in case.attachments if a.filename == "mietvertrag.pdf")
    assert big.size == len(scan) and big.sha512 == hashlib.sha512(scan).hexdigest()
    assert gateway.blobs.get(big.storage_key) == scan and b"".join(gateway.blobs.open(big.storage_key)) == scan
    assert big.storage_key == "sha512/" + big.sha512  # one blob per attachment
    company = gateway.queries.case_by_source("xta", gewerbe)
    assert company is not None and company.applicant.party.kind == "organisation"
    for message_id in (wohngeld, gewerbe):
        assert gateway.queries.inbox_entry("xta", message_id).state == "acknowledged"  # type: ignore[union-attr]
        assert stack.closes(message_id) == 1
    assert stack.open_ids() == []


def test_message_is_closed_only_after_commit(stack: Stack) -> None:
    message_id = samples.post(stack.portal, samples.GEWERBE, samples.GEWERBE.fixtures()[0].read_bytes())
    stack.state.fail_next("close", "9030", times=2)
    gateway = stack.make_gateway()
    gateway.worker.run_until_idle()
    assert gateway.queries.case_by_source("xta", message_id) is not None
    assert gateway.queries.inbox_entry("xta", message_id).state == "committed"  # type: ignore[union-attr]
    assert message_id in stack.open_ids()  # committed, not yet acknowledged upstream
    _work(gateway)
    assert gateway.queries.inbox_entry("xta", message_id).state == "acknowledged"  # type: ignore[union-attr]
    assert stack.closes(message_id) == 1 and len(_cases(gateway)) == 1


def _invalid_wohngeld() -> bytes:
    root = etree.fromstring(samples.WOHNGELD.fixtures()[0].read_bytes())
    ns = {"w": samples.WOHNGELD.payload_schema}
    root.xpath("/*/w:G05000020/w:F05000021", namespaces=ns)[0].text = "vierhundert"
    return bytes(etree.tostring(root))


def test_schema_violation_is_quarantined_with_its_location_then_closed(stack: Stack) -> None:
    message_id = samples.post(stack.portal, samples.WOHNGELD, _invalid_wohngeld())
    gateway = stack.make_gateway()
    _work(gateway)
    entry = gateway.queries.inbox_entry("xta", message_id)
    assert entry is not None and entry.state == "quarantined"
    error = str(entry.last_error)
    assert "/fim.S05000227.05000227001005/G05000020/F05000021" in error and "vierhundert" not in error
    assert stack.closes(message_id) == 1 and _cases(gateway) == []


def test_quarantined_message_can_be_left_open_and_is_not_taken_twice(stack: Stack) -> None:
    message_id = samples.post(stack.portal, samples.WOHNGELD, _invalid_wohngeld())
    gateway = stack.make_gateway(quarantine_then_close=False, refetch_after_seconds=0)
    _work(gateway)
    assert gateway.queries.inbox_entry("xta", message_id).state == "quarantined"  # type: ignore[union-attr]
    assert message_id in stack.open_ids() and stack.closes(message_id) == 0
    fetches = stack.state.calls["getMessage"]
    _work(gateway)
    assert stack.state.calls["getMessage"] > fetches  # fetched again, but deduplicated by MessageID
    assert gateway.queries.inbox_entry("xta", message_id).state == "quarantined"  # type: ignore[union-attr]


def test_unknown_message_type_is_quarantined(stack: Stack) -> None:
    other = samples.MessageKind("xmeld.anmeldung.0200", "urn:other", "urn:svc", "X", "none")
    message_id = samples.post(stack.portal, other, b"<a xmlns='urn:other'/>")
    gateway = stack.make_gateway()
    _work(gateway)
    entry = gateway.queries.inbox_entry("xta", message_id)
    assert entry is not None and entry.state == "quarantined"
    assert "unsupported-format" in str(entry.last_error)
    assert stack.closes(message_id) == 1


def test_fault_responses_delay_but_lose_nothing(stack: Stack) -> None:
    message_id = samples.post(stack.portal, samples.GEWERBE, samples.GEWERBE.fixtures()[2].read_bytes())
    stack.state.fail_next("getStatusList", "9011")
    stack.state.fail_next("getMessage", "9031")
    gateway = stack.make_gateway()
    gateway.worker.run_once()
    gateway.worker.run_once()
    assert gateway.queries.inbox_entry("xta", message_id) is None  # nothing taken yet
    _work(gateway)
    assert gateway.queries.case_by_source("xta", message_id) is not None
    assert stack.closes(message_id) == 1


def test_crash_between_commit_and_close_gives_one_case_and_one_close(stack: Stack) -> None:
    message_id = samples.post(stack.portal, samples.WOHNGELD, samples.WOHNGELD.fixtures()[1].read_bytes())
    first = stack.make_gateway()
    # The close does not get through (the outbox round right after the commit), then the process
    # dies before the outbox's retry.
    stack.state.fail_next("close", "9030")
    first.worker.poll_sources(force=True)
    first.worker.run_jobs()
    assert first.dispatcher.run_due() == 1 and stack.closes(message_id) == 0
    assert first.queries.inbox_entry("xta", message_id).state == "committed"  # type: ignore[union-attr]
    first.close()

    restarted = stack.make_gateway()
    _work(restarted)  # lists the still open message again: deduplicated, then closed
    assert len(_cases(restarted)) == 1
    assert restarted.queries.inbox_entry("xta", message_id).state == "acknowledged"  # type: ignore[union-attr]
    assert stack.closes(message_id) == 1 and stack.open_ids() == []


def test_crash_after_close_but_before_it_was_recorded(stack: Stack) -> None:
    message_id = samples.post(stack.portal, samples.WOHNGELD, samples.WOHNGELD.fixtures()[2].read_bytes())
    first = stack.make_gateway()
    channel = first.adapters.channels.get("xta")
    original = channel.acknowledge

    def close_then_die(message, case):  # type: ignore[no-untyped-def]
        original(message, case)
        raise RuntimeError("process killed after the server closed the message")

    channel.acknowledge = close_then_die  # type: ignore[method-assign]
    first.worker.run_until_idle()
    assert stack.closes(message_id) == 1
    first.close()

    restarted = stack.make_gateway()
    _work(restarted)  # close again: the server no longer knows it, which counts as done
    assert restarted.queries.inbox_entry("xta", message_id).state == "acknowledged"  # type: ignore[union-attr]
    assert stack.closes(message_id) == 1 and len(_cases(restarted)) == 1


def test_case_is_forwarded_to_another_authority_and_followed(stack: Stack) -> None:
    message_id = samples.post(stack.portal, samples.GEWERBE, samples.GEWERBE.fixtures()[0].read_bytes())
    gateway = stack.make_gateway()
    _work(gateway)
    case = gateway.queries.case_by_source("xta", message_id)
    assert case is not None
    gateway.cases.forward(str(case.id), channel="xta", target=samples.STATE_PORTAL.value, actor="test",
                          tenants=None)
    _work(gateway)
    [forwarding] = gateway.cases.forwardings(str(case.id), None)
    assert forwarding["status"] == "sent"
    # the sender's progress is in the gateway database, where every process of the installation sees it
    recorded = gateway.contexts[0].state.get(NAMESPACE, state_key(str(case.id), samples.STATE_PORTAL.value))
    assert recorded == {"messageId": forwarding["remote_id"], "sent": True}
    page = stack.portal.get_status_list()
    [entry] = [e for e in page.entries if e.message_id == forwarding["remote_id"]]
    assert entry.subject == case.reference and entry.author.value == samples.TOWN.value
    stack.portal.close([entry.message_id])
    _work(gateway)
    assert gateway.cases.forwardings(str(case.id), None)[0]["status"] == "delivered"


def _permanent_xta_errors() -> list[type[xta_errors.XtaFault]]:
    def walk(cls: type[xta_errors.XtaFault]) -> list[type[xta_errors.XtaFault]]:
        return [cls, *(c for sub in cls.__subclasses__() for c in walk(sub))]

    return sorted({c for c in walk(xta_errors.XtaFault) if issubclass(c, PermanentError)}, key=lambda c: c.slug)


def test_every_permanent_xta_error_class_is_known_to_the_rejection_test() -> None:
    assert [c.__name__ for c in _permanent_xta_errors()] == [
        "XtaMessageIdUsed", "XtaRequestRejected", "XtaSchemaViolation", "XtaServiceNotBooked",
        "XtaUnknownMessage", "XtaWrongEncoding"]


@pytest.mark.parametrize("error_class", _permanent_xta_errors(), ids=lambda c: c.__name__)
def test_a_message_quarantined_with_any_permanent_xta_error_is_rejected_at_the_sandbox(
        stack: Stack, error_class: type[xta_errors.XtaFault], monkeypatch: pytest.MonkeyPatch) -> None:
    message_id = samples.post(stack.portal, samples.GEWERBE, samples.GEWERBE.fixtures()[0].read_bytes())
    gateway = stack.make_gateway()

    def verify(message: InboundMessage) -> VerifiedSubmission:
        raise error_class("getMessage: XTA error 9999 (stand-in)", code="9999", fault="SomeException")

    monkeypatch.setattr(gateway.adapters.channels.get("xta"), "verify", verify)
    _work(gateway)
    entry = gateway.queries.inbox_entry("xta", message_id)
    assert entry is not None and entry.state == "quarantined" and entry.last_error is not None
    assert entry.last_error["type"].endswith("/" + error_class.slug) and entry.last_error["xta_code"] == "9999"
    # the rejection was built from the recorded problem and reached the server: the message is closed
    assert stack.closes(message_id) == 1 and message_id not in stack.open_ids()
    with gateway.db.reading() as conn:
        rows = outbox_repo.list_state(conn, "dead") + outbox_repo.list_state(conn, "pending")
    assert rows == []  # delivered, not retried or buried

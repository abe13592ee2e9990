"""The client reads answers in the published XTA 2 Version 3 structure from a real server
(canned answers here, not the sandbox): empty checkAccountActive body, TransportReport with
its status lists, lookupService results, short-form status list entries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from adapters.xta import samples
from adapters.xta.client import TransportReport, XtaClient
from adapters.xta.metadata import Party
from adapters.xta.ns import ANONYMOUS, NO_MATCH, OPERATIONS, OSCI, OSCIMETA, SCHEMA_DIR, WSA, XTA, q
from adapters.xta.sender import XtaSender
from adapters.xta.soap import element, envelope, parse_envelope
from gateway.ports import Forwarding
from gateway.safexml_schemas import load_schema

Answer = Callable[[str], tuple[list[Any], list[Any]]]  # request action -> (answer headers, answer body)


def _server(answer: Answer) -> XtaClient:
    def handler(request: httpx.Request) -> httpx.Response:
        env = parse_envelope(request.read())
        action = env.header_text(q(WSA, "Action")) or ""
        headers, body = answer(action)
        xml = envelope(action=action, message_id="urn:uuid:answer", to=ANONYMOUS, headers=headers, body=body,
                       relates_to=env.header_text(q(WSA, "MessageID")))
        return httpx.Response(200, content=xml, headers={"content-type": "application/soap+xml; charset=utf-8"})

    return XtaClient("https://xta.test", samples.TOWN, httpx.Client(transport=httpx.MockTransport(handler)))


def _record(tag: str, code: str) -> Any:
    return element(q(XTA, tag), children=[
        element(q(XTA, "Timestamp"), "2025-03-01T08:00:00Z"),
        element(q(XTA, "Code"), attrib={"listURI": "urn:de:xta:codeliste:record.type", "listVersionID": "1"},
                children=[element("code", code)]),
        element(q(XTA, "Reason"), "Frau Mustermann hat ... (free text)")])


def _report(status: str, errors: tuple[str, ...] = (), warnings: tuple[str, ...] = ()) -> Any:
    message_status = element(q(XTA, "MessageStatus"), children=[element(q(XTA, "Status"), status)])
    if errors:
        message_status.append(element(q(XTA, "ErrorList"), children=[_record("Error", c) for c in errors]))
    if warnings:
        message_status.append(element(q(XTA, "WarnList"), children=[_record("Warning", c) for c in warnings]))
    meta = samples.metadata(samples.GEWERBE, "urn:de:xta:messageid:x:1", 10)
    return element(q(XTA, "TransportReport"), children=[
        meta.to_xml(), element(q(XTA, "ReportTime"), dt.datetime.now(dt.UTC).isoformat()),
        element(q(XTA, "XTAServerIdentity"), "https://xta.example.de/"), message_status])


def test_transport_report_is_read_with_its_error_and_warning_codes() -> None:
    report = _report("3", errors=("E1", "E2"), warnings=("W1",))
    load_schema(SCHEMA_DIR / "xta-interface.xsd").validate(report, label="report")  # the canned answer is valid XTA
    client = _server(lambda action: ([], [report]))
    result = client.get_transport_report("urn:de:xta:messageid:x:1")
    assert result == TransportReport(3, ["E1", "E2"], ["W1"])


@pytest.mark.parametrize(("status", "expected"), [("0", "sent"), ("1", "delivered"), ("2", "delivered"),
                                                  ("3", "failed"), ("7", "unknown")])
def test_sender_follow_maps_the_traffic_light(status: str, expected: str) -> None:
    client = _server(lambda action: ([], [_report(status)]))
    sender = XtaSender(None, samples.TOWN, client, None)  # type: ignore[arg-type]  # follow needs neither
    forwarding = Forwarding("xta", samples.STATE_PORTAL.value, "urn:de:xta:messageid:x:1", "sent")
    assert sender.follow(forwarding).status == expected


def test_check_account_active_with_an_empty_answer_body() -> None:
    assert _server(lambda action: ([], [])).check_account_active() is True


@pytest.mark.parametrize(("value", "expected"), [("ServiceIsAvailable", True), ("ServiceIsAvailableUnknown", None)])
def test_lookup_service_result(value: str, expected: bool | None) -> None:
    reader = Party("wgb:1")
    result = element(q(XTA, "LookupServiceResult"), children=[
        reader.to_xml(q(OSCIMETA, "Reader")), element(q(XTA, "ServiceType"), "urn:x"),
        element(q(XTA, "IsServiceAvailableValue"), children=[element(q(XTA, value), "true")])])
    response = element(q(XTA, "LookupServiceResponse"), children=[
        element(q(XTA, "LookupServiceResultList"), children=[result])])
    load_schema(SCHEMA_DIR / "xta-interface.xsd").validate(response, label="response")
    assert _server(lambda action: ([], [response])).lookup_service("urn:x", reader) is expected


def test_status_list_in_the_short_form_is_skipped_not_misread() -> None:
    short = element(q(OSCI, "MsgAttributes"), children=[
        element(q(WSA, "MessageID"), "urn:de:xta:messageid:x:1"), element(q(OSCI, "TypeOfBusinessScenario"), "urn:x"),
        element(q(OSCI, "MsgSize"), "10"), element(q(OSCI, "DeliveryTime"), "2025-03-01T08:00:00Z")])
    box = element(q(OSCI, "MsgBoxResponse"), attrib={"MsgBoxRequestID": "urn:uuid:l"},
                  children=[element(q(OSCI, "ItemsPending"), "0")])
    page = _server(lambda action: ([box], [element(q(OSCI, "MsgStatusList"), children=[short])])).get_status_list()
    assert (page.entries, page.skipped, page.request_id) == ([], 1, "urn:uuid:l")


def test_empty_status_list_with_a_reason() -> None:
    box = element(q(OSCI, "MsgBoxResponse"), attrib={"MsgBoxRequestID": "urn:uuid:l"},
                  children=[element(q(OSCI, "NoMessageAvailable"), attrib={"reason": NO_MATCH})])
    page = _server(lambda action: ([box], [element(q(OSCI, "MsgStatusList"))])).get_status_list()
    assert (page.entries, page.pending, page.skipped) == ([], 0, 0)


def test_requests_go_out_with_the_published_actions() -> None:
    seen: list[str] = []

    def answer(action: str) -> tuple[list[Any], list[Any]]:
        seen.append(action)
        return [], [element(q(WSA, "MessageID"), "urn:de:xta:messageid:x:2")]

    assert _server(answer).create_message_id() == "urn:de:xta:messageid:x:2"
    assert seen == [OPERATIONS["createMessageId"][1]] == ["http://www.xta.de/XTA/CreateMessageID"]

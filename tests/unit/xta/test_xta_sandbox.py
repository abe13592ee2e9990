"""The sandbox server: WS-Addressing enforcement, SOAP/XTA faults, accounts, mailbox paging."""

from __future__ import annotations

from typing import Any

import pytest
from lxml import etree

from adapters.xta import samples
from adapters.xta.errors import XtaAccountUnusable, XtaServiceNotBooked, XtaUnknownMessage
from adapters.xta.metadata import Party
from adapters.xta.ns import ANONYMOUS, OPERATIONS, OSCI, SOAP11, WSA, q
from adapters.xta.sandbox.app import handle_soap
from adapters.xta.sandbox.store import Account, AccountState, SandboxState
from adapters.xta.soap import element, envelope, parse_envelope, read_fault
from adapters.xta.testing import client_for, sandbox_http

SOAP = "application/soap+xml; charset=utf-8"
STATUS_LIST = OPERATIONS["getStatusList"][1]


def _request(action: str = STATUS_LIST, *, body: Any = None, headers: tuple[str, ...] = ("Action", "MessageID", "To"),
             reply_to: str | None = None, author: bool = True) -> bytes:
    if body is None:
        body = element(q(OSCI, "MsgBoxStatusListRequest"), attrib={"ListForm": "MessageMetaData"})
    extra = [samples.TOWN.author_header()] if author else []
    xml = envelope(action=action, message_id="urn:uuid:req-1", to="http://x/services/XTAService/MsgBoxPort",
                   headers=extra, body=[body])
    env = parse_envelope(xml)
    assert env.header is not None
    for name in ("Action", "MessageID", "To"):
        if name not in headers:
            env.header.remove(env.header.find(q(WSA, name)))
    if reply_to:
        env.header.find(f"{q(WSA, 'ReplyTo')}/{q(WSA, 'Address')}").text = reply_to
    return bytes(etree.tostring(env.root))


def _fault(result: tuple[int, bytes, str]) -> tuple[int, Any]:
    status, body, _ = result
    fault = read_fault(parse_envelope(body))
    assert fault is not None
    return status, fault


@pytest.mark.parametrize("missing", ["Action", "MessageID", "To"])
def test_missing_ws_addressing_header_is_a_wsa_fault(missing: str) -> None:
    headers = tuple(h for h in ("Action", "MessageID", "To") if h != missing)
    status, fault = _fault(handle_soap(SandboxState(), "MsgBoxPort", _request(headers=headers), SOAP))
    assert status == 400 and fault.soap_code == "Sender"
    assert fault.subcode == "MessageAddressingHeaderRequired" and missing in (fault.reason or "")


def test_response_relates_to_the_request_and_carries_its_own_addressing() -> None:
    status, body, _ = handle_soap(SandboxState(), "MsgBoxPort", _request(), SOAP)
    env = parse_envelope(body)
    assert status == 200 and env.header is not None
    assert env.header_text(q(WSA, "RelatesTo")) == "urn:uuid:req-1"
    assert env.header_text(q(WSA, "Action")) == STATUS_LIST + "Response"
    assert env.header_text(q(WSA, "To")) == ANONYMOUS
    assert env.header.find(f"{q(OSCI, 'MsgBoxResponse')}/{q(OSCI, 'NoMessageAvailable')}") is not None


@pytest.mark.parametrize(("request_body", "port", "subcode_or_fault"), [
    (_request(body=element("{http://xoev.de/transport/xta/2}MsgBoxStatusListRequest")), "MsgBoxPort",
     "ParameterIsNotValidException"),
    (_request(action="http://example.org/unknown"), "MsgBoxPort", "ActionNotSupported"),
    (_request(), "ManagementPort", "ActionNotSupported"),
    (_request(reply_to="http://attacker.example/"), "MsgBoxPort", "OnlyAnonymousAddressSupported"),
    (_request(body=element(q(OSCI, "MsgBoxStatusListRequest"), attrib={"maxListItems": "viele"})), "MsgBoxPort",
     "ParameterIsNotValidException"),
    (_request(author=False), "MsgBoxPort", "ParameterIsNotValidException"),
    (b"<not-xml", "MsgBoxPort", None),
    (f'<e:Envelope xmlns:e="{SOAP11}"><e:Body/></e:Envelope>'.encode(), "MsgBoxPort", None),
])
def test_bad_requests_get_sender_faults(request_body: bytes, port: str, subcode_or_fault: str | None) -> None:
    status, fault = _fault(handle_soap(SandboxState(), port, request_body, SOAP))
    assert status == 400
    assert subcode_or_fault in (fault.subcode, fault.detail_element)


def test_soap_11_gets_a_version_mismatch() -> None:
    request = f'<e:Envelope xmlns:e="{SOAP11}"><e:Body/></e:Envelope>'.encode()
    _, fault = _fault(handle_soap(SandboxState(), "MsgBoxPort", request, "text/xml"))
    assert fault.soap_code == "VersionMismatch"


def test_operation_names_are_accepted_as_action_aliases() -> None:
    status, _, _ = handle_soap(SandboxState(), "MsgBoxPort", _request(action="getStatusList"), SOAP)
    assert status == 200


@pytest.mark.parametrize(("state", "error", "code"), [
    (AccountState.EXPIRED, XtaAccountUnusable, "9010"), (AccountState.LOCKED, XtaAccountUnusable, "9011"),
    (AccountState.CERT_MISMATCH, XtaAccountUnusable, "9014"),
])
def test_account_states_answer_with_their_codes(state: AccountState, error: type[Exception], code: str) -> None:
    http, _ = sandbox_http(SandboxState(accounts={samples.TOWN.value: Account(samples.TOWN.value, state)}))
    with pytest.raises(error, match=code):
        client_for(samples.TOWN, http).get_status_list()


def test_unknown_account_and_unbooked_service() -> None:
    accounts = {samples.STATE_PORTAL.value: Account(samples.STATE_PORTAL.value, services=frozenset({"urn:x"}))}
    http, _ = sandbox_http(SandboxState(accounts=accounts))
    with pytest.raises(XtaAccountUnusable, match="9012"):
        client_for(samples.TOWN, http).check_account_active()
    portal = client_for(samples.STATE_PORTAL, http)
    with pytest.raises(XtaServiceNotBooked, match="9013"):
        samples.post(portal, samples.WOHNGELD, b"<x/>")
    assert portal.lookup_service("urn:x", samples.STATE_PORTAL) is True
    assert portal.lookup_service(samples.WOHNGELD.service, samples.STATE_PORTAL) is False


def test_status_list_pages_and_mailboxes_are_per_reader() -> None:
    http, state = sandbox_http()
    portal, town = client_for(samples.STATE_PORTAL, http), client_for(samples.TOWN, http)
    ids = [samples.post(portal, samples.GEWERBE, b"<x/>") for _ in range(5)]
    samples.post(portal, samples.GEWERBE, b"<x/>", reader=Party("wgb:150855500000"))
    first = town.get_status_list(2)
    assert [e.message_id for e in first.entries] == ids[:2] and first.pending == 3
    town.close([ids[2]])  # closed while the list is open: not listed again
    second = town.get_next_status_list(first.request_id)
    assert [e.message_id for e in second.entries] == ids[3:5] and second.pending == 0
    with pytest.raises(Exception, match="ParameterIsNotValid"):
        town.get_next_status_list(second.request_id)
    assert len(state.open_messages("wgb:150855500000")) == 1


def test_closed_message_cannot_be_fetched_or_closed_again() -> None:
    http, state = sandbox_http()
    portal, town = client_for(samples.STATE_PORTAL, http), client_for(samples.TOWN, http)
    message_id = samples.post(portal, samples.WOHNGELD, b"<x/>")
    assert portal.get_transport_report(message_id).status == 0
    town.close([message_id])
    assert portal.get_transport_report(message_id).status == 1
    with pytest.raises(XtaUnknownMessage):
        town.get_message(message_id)
    with pytest.raises(XtaUnknownMessage):
        town.close([message_id])
    with pytest.raises(XtaUnknownMessage):
        town.get_transport_report(message_id)  # not the author
    assert state.calls[f"closed:{message_id}"] == 1


def test_create_message_id_has_the_xta_form() -> None:
    http, _ = sandbox_http()
    message_id = client_for(samples.TOWN, http).create_message_id()
    assert message_id.startswith("urn:de:xta:messageid:xtasandbox:")

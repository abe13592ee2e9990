"""The sandbox server: WS-Addressing enforcement, SOAP/XTA faults, accounts, mailbox paging."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from lxml import etree

from adapters.xta import mtom, samples
from adapters.xta.client import Content
from adapters.xta.errors import CODE_LIST, XtaAccountUnusable, XtaServiceNotBooked, XtaUnknownMessage
from adapters.xta.metadata import Party
from adapters.xta.ns import (
    ANONYMOUS,
    NO_MATCH,
    OPERATIONS,
    OSCI,
    OSCIMETA,
    SCHEMA_DIR,
    SOAP11,
    SOAP12,
    WSA,
    XOP,
    XTA,
    q,
)
from adapters.xta.sandbox.app import handle_soap
from adapters.xta.sandbox.store import Account, AccountState, SandboxState
from adapters.xta.soap import element, envelope, parse_envelope, read_fault
from adapters.xta.testing import client_for, sandbox_http, sandbox_transport
from gateway.safexml_schemas import load_schema

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


@pytest.mark.parametrize("missing", ["Action", "MessageID"])
def test_missing_ws_addressing_header_is_a_wsa_fault(missing: str) -> None:
    headers = tuple(h for h in ("Action", "MessageID", "To") if h != missing)
    status, fault = _fault(handle_soap(SandboxState(), "MsgBoxPort", _request(headers=headers), SOAP))
    assert status == 400 and fault.soap_code == "Sender"
    assert fault.subcode == "MessageAddressingHeaderRequired" and missing in (fault.reason or "")


def test_missing_to_means_anonymous() -> None:
    # WS-Addressing 1.0: without wsa:To the destination is the anonymous address.
    status, _, _ = handle_soap(SandboxState(), "MsgBoxPort", _request(headers=("Action", "MessageID")), SOAP)
    assert status == 200


def test_response_relates_to_the_request_and_carries_its_own_addressing() -> None:
    status, body, _ = handle_soap(SandboxState(), "MsgBoxPort", _request(), SOAP)
    env = parse_envelope(body)
    assert status == 200 and env.header is not None
    assert env.header_text(q(WSA, "RelatesTo")) == "urn:uuid:req-1"
    assert env.header_text(q(WSA, "Action")) == STATUS_LIST  # the published WSDL: same action both ways
    assert env.header_text(q(WSA, "To")) == ANONYMOUS
    empty = env.header.find(f"{q(OSCI, 'MsgBoxResponse')}/{q(OSCI, 'NoMessageAvailable')}")
    assert empty is not None and empty.get("reason") == NO_MATCH  # reason is required


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
    # A finished list: OSCI answers NoMessageAvailable with reason RequestIdInvalid, not a fault.
    third = town.get_next_status_list(second.request_id)
    assert (third.entries, third.pending, third.request_id) == ([], 0, second.request_id)
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


# --- the sandbox answers in the published structure ----------------------------------------------

def _recording_client(party: Party, state: SandboxState) -> tuple[Any, list[tuple[str, bytes, str]]]:
    answers: list[tuple[str, bytes, str]] = []
    inner = sandbox_transport(state)

    def handler(request: httpx.Request) -> httpx.Response:
        response = inner.handle_request(request)
        answers.append((request.url.path, response.read(), response.headers["content-type"]))
        return response

    return client_for(party, httpx.Client(transport=httpx.MockTransport(handler))), answers


def test_every_answer_is_valid_against_the_schemas() -> None:
    state = SandboxState()
    portal, _ = _recording_client(samples.STATE_PORTAL, state)
    town, answers = _recording_client(samples.TOWN, state)
    ids = [samples.post(portal, samples.WOHNGELD, b"<x/>", [Content(b"%PDF", "application/pdf", "a.pdf")])
           for _ in range(3)]
    town.check_account_active()
    town.create_message_id()
    town.lookup_service(samples.WOHNGELD.service, samples.STATE_PORTAL)
    page = town.get_status_list(2)
    town.get_next_status_list(page.request_id)
    town.get_next_status_list(page.request_id)  # finished: NoMessageAvailable
    town.get_message(ids[0])
    town.close([ids[0]])
    town.get_transport_report(samples.post(town, samples.GEWERBE, b"<y/>", reader=samples.STATE_PORTAL))
    schema = load_schema(SCHEMA_DIR / "xta-interface.xsd")
    checked = 0
    for path, body, ctype in answers:
        env = parse_envelope(mtom.parse(body, ctype).root.data)
        for el in [*(env.header if env.header is not None else []), *env.body]:
            if el.tag.startswith("{" + WSA):
                continue
            for include in list(el.iter(q(XOP, "Include"))):
                include.getparent().remove(include)
            schema.validate(el, label=f"{path} {el.tag}")
            checked += 1
    assert checked >= 11  # every answer element except the WS-Addressing ones (MessageID of createMessageId)


def test_check_account_active_answers_with_an_empty_body() -> None:
    http, _ = sandbox_http()
    response = client_for(samples.TOWN, http).call("checkAccountActive")
    assert response.envelope.payload is None


@pytest.mark.parametrize(("inject", "exception", "code"), [
    ({"fault": "ParameterIsNotValidException"}, "ParameterIsNotValidException", "9000"),
    ({"fault": "InvalidMessageIDException"}, "InvalidMessageIDException", "9070"),
    ({"code": "9011"}, "PermissionDeniedException", "9011"),
    ({"code": "9031"}, "XTAWSTechnicalProblemException", "9031"),
])
def test_xta_faults_carry_an_error_code_and_the_operations_action(inject: dict[str, str], exception: str,
                                                                   code: str) -> None:
    state = SandboxState()
    state.fail_next("getStatusList", **inject)
    status, body, _ = handle_soap(state, "MsgBoxPort", _request(), SOAP)
    env = parse_envelope(body)
    fault = read_fault(env)
    assert fault is not None and (fault.detail_element, fault.error_code) == (exception, code)
    assert status == (500 if exception == "XTAWSTechnicalProblemException" else 400)
    assert env.header_text(q(WSA, "Action")) == STATUS_LIST
    detail = env.body.find(f"{q(SOAP12, 'Fault')}/{q(SOAP12, 'Detail')}")[0]
    error_code = detail.find(q(XTA, "errorCode"))
    assert error_code.get("listURI") == CODE_LIST and error_code.get("listVersionID") == "1.0"
    assert (error_code.findtext("name") or "").strip()  # required
    load_schema(SCHEMA_DIR / "xta-interface.xsd").validate(detail, label="fault detail")


def test_ws_addressing_faults_use_the_ws_addressing_fault_action() -> None:
    _, body, _ = handle_soap(SandboxState(), "MsgBoxPort", _request(headers=("Action", "To")), SOAP)
    assert parse_envelope(body).header_text(q(WSA, "Action")) == WSA + "/fault"


def test_list_forms() -> None:
    http, state = sandbox_http()
    message_id = samples.post(client_for(samples.STATE_PORTAL, http), samples.GEWERBE, b"<x/>")
    for attrib, entry in [({}, q(OSCIMETA, "MessageMetaData")), ({"ListForm": "MessageMetaData"},
                                                                  q(OSCIMETA, "MessageMetaData")),
                          ({"ListForm": "MsgAtrributes"}, q(OSCI, "MsgAttributes"))]:
        request = _request(body=element(q(OSCI, "MsgBoxStatusListRequest"), attrib=attrib))
        status, body, _ = handle_soap(state, "MsgBoxPort", request, SOAP)
        listed = parse_envelope(body).payload
        assert status == 200 and [c.tag for c in listed] == [entry], attrib
        assert listed[0].findtext(f".//{q(WSA, 'MessageID')}") == message_id
    # The spelling the published enumeration does not have is refused by the schema.
    request = _request(body=element(q(OSCI, "MsgBoxStatusListRequest"), attrib={"ListForm": "MsgAttributes"}))
    _, fault = _fault(handle_soap(state, "MsgBoxPort", request, SOAP))
    assert fault.detail_element == "ParameterIsNotValidException"


def test_close_without_message_ends_the_list() -> None:
    http, _ = sandbox_http()
    portal, town = client_for(samples.STATE_PORTAL, http), client_for(samples.TOWN, http)
    for _ in range(3):
        samples.post(portal, samples.GEWERBE, b"<x/>")
    page = town.get_status_list(1)
    assert page.pending == 2
    town.close([], page.request_id)
    rest = town.get_next_status_list(page.request_id)
    assert rest.entries == [] and rest.pending == 0


def test_get_message_reports_the_other_pending_messages_and_accepts_msg_part() -> None:
    http, state = sandbox_http()
    portal, town = client_for(samples.STATE_PORTAL, http), client_for(samples.TOWN, http)
    first, _ = samples.post(portal, samples.GEWERBE, b"<x/>"), samples.post(portal, samples.GEWERBE, b"<y/>")
    response = town.get_message(first)
    assert response.envelope.header is not None
    assert response.envelope.header.findtext(f"{q(OSCI, 'MsgBoxResponse')}/{q(OSCI, 'ItemsPending')}") == "1"
    selector = element(q(OSCI, "MsgSelector"), children=[element(q(WSA, "MessageID"), first)])
    fetch = element(q(OSCI, "MsgBoxFetchRequest"), attrib={"MsgPart": "Envelope"}, children=[selector])
    status, _, _ = handle_soap(state, "MsgBoxPort", _request(OPERATIONS["getMessage"][1], body=fetch), SOAP)
    assert status == 200


def test_transport_report_status_and_server_identity() -> None:
    http, state = sandbox_http()
    portal = client_for(samples.STATE_PORTAL, http)
    message_id = samples.post(portal, samples.GEWERBE, b"<x/>")
    report = portal.call("getTransportReport", [element(q(WSA, "MessageID"), message_id)]).envelope.payload
    assert report.findtext(q(XTA, "XTAServerIdentity")) == state.server_identity
    assert report.find(q(XTA, "XTAServerIdentity")).attrib == {}  # a token, no attributes
    assert report.findtext(f"{q(XTA, 'MessageStatus')}/{q(XTA, 'Status')}") == "0"


def test_exact_actions_are_recorded() -> None:
    http, state = sandbox_http()
    client_for(samples.TOWN, http).get_status_list()
    handle_soap(state, "MsgBoxPort", _request(action="getStatusList"), SOAP)
    assert state.actions == {STATUS_LIST: 1, "getStatusList": 1}

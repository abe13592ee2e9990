"""Envelope building: WS-Addressing on every call, Author where the interface wants it, and
every request valid against the XTA schemas the sandbox enforces."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from lxml import etree

from adapters.xta import mtom, samples
from adapters.xta.client import Content, XtaClient
from adapters.xta.ns import ANONYMOUS, OPERATIONS, OSCIMETA, SCHEMA_DIR, SOAP11, SOAP12, WSA, XOP, XTA, q
from adapters.xta.sandbox.store import SandboxState
from adapters.xta.soap import content_bytes, envelope, parse_envelope, read_fault
from adapters.xta.testing import sandbox_transport
from gateway import safexml
from gateway.errors import InvalidPayload
from gateway.safexml_schemas import load_schema

Captured = list[tuple[str, bytes, str]]


@pytest.fixture
def captured() -> tuple[XtaClient, Captured]:
    seen: Captured = []
    state = SandboxState()
    inner = sandbox_transport(state)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url), request.read(), request.headers["content-type"]))
        return inner.handle_request(request)

    client = XtaClient("http://xta.test", samples.TOWN, httpx.Client(transport=httpx.MockTransport(handler)))
    return client, seen


def _all_operations(client: XtaClient) -> None:
    portal = XtaClient(client.base_url, samples.STATE_PORTAL, client.http)
    message_id = samples.post(portal, samples.WOHNGELD, b"<x/>", [Content(b"%PDF", "application/pdf", "a.pdf"),
                                                                  Content(b"", "text/plain", "")])
    samples.post(portal, samples.GEWERBE, b"<y/>")
    client.check_account_active()
    client.lookup_service("urn:fim:Wohngeld-Mietzuschuss:1.5", samples.STATE_PORTAL)
    page = client.get_status_list(1)
    client.get_next_status_list(page.request_id)
    client.get_message(message_id)
    client.close([message_id], page.request_id)
    portal.get_transport_report(message_id)


# The WS-Addressing actions of the published XTA 2 Version 3 WSDL (XTA-WS 2.1.1); the answer
# carries the same action as the request.
PUBLISHED_ACTIONS = {
    "checkAccountActive": "http://www.xta.de/XTA/CheckAccountActive",
    "createMessageId": "http://www.xta.de/XTA/CreateMessageID",
    "getTransportReport": "http://www.xta.de/XTA/GetTransportReport",
    "lookupService": "http://www.xta.de/XTA/IsServiceAvailable",
    "sendMessage": "http://www.xta.de/XTA/SendMessage",
    "getStatusList": "http://www.osci.eu/ws/2008/05/transport/urn/messageTypes/MsgBoxStatusListRequest",
    "getNextStatusList": "http://www.osci.eu/ws/2008/05/transport/urn/messageTypes/MsgBoxGetNextListRequest",
    "getMessage": "http://www.osci.eu/ws/2008/05/transport/urn/messageTypes/MsgBoxFetchRequest",
    "close": "http://www.osci.eu/ws/2008/05/transport/urn/messageTypes/MsgBoxCloseRequest",
}


def test_actions_are_those_of_the_published_wsdl() -> None:
    assert {op: action for op, (_, action) in OPERATIONS.items()} == PUBLISHED_ACTIONS


def test_every_call_carries_ws_addressing_and_is_schema_valid(captured: tuple[XtaClient, Captured]) -> None:
    client, seen = captured
    _all_operations(client)
    schema = load_schema(SCHEMA_DIR / "xta-interface.xsd")
    actions = set()
    for url, body, ctype in seen:
        env = parse_envelope(mtom.parse(body, ctype).root.data)
        action = env.header_text(q(WSA, "Action"))
        actions.add(action)
        assert env.header_text(q(WSA, "To")) == url
        assert (env.header_text(q(WSA, "MessageID")) or "").startswith("urn:uuid:")
        assert env.header_text(f"{q(WSA, 'ReplyTo')}/{q(WSA, 'Address')}") == ANONYMOUS
        port = next(p for p, a in OPERATIONS.values() if a == action)
        assert url.endswith("/services/XTAService/" + port)
        assert env.header is not None
        for element in [*env.header, *env.body]:
            if element.tag.startswith("{" + WSA):
                continue
            for include in list(element.iter(q(XOP, "Include"))):
                include.getparent().remove(include)
            schema.validate(element, label=f"{action} {element.tag}")
    assert actions == set(PUBLISHED_ACTIONS.values())


def test_author_header_on_management_and_mailbox_calls_but_not_on_send(captured: tuple[XtaClient, Captured]
                                                                       ) -> None:
    client, seen = captured
    _all_operations(client)
    for url, body, ctype in seen:
        env = parse_envelope(mtom.parse(body, ctype).root.data)
        assert env.header is not None
        assert env.header.find(q(XTA, "AuthorIdentifier")) is None  # not an element of the interface
        author = env.header.find(q(OSCIMETA, "Author"))
        if url.endswith("SendXtaPort"):
            assert author is None
            assert env.header.find(q(OSCIMETA, "MessageMetaData")) is not None
            assert 'type="application/xop+xml"' in ctype  # sendMessage is MTOM
        else:
            assert author is not None and author.findtext(q(OSCIMETA, "Identifier")) in (
                samples.TOWN.value, samples.STATE_PORTAL.value)
            assert author.find(q(OSCIMETA, "Identifier")).get("type") == "xoev"  # required attribute


def test_envelope_without_to_still_has_action_and_message_id() -> None:
    env = parse_envelope(envelope(action="urn:a", message_id="urn:uuid:1", to=None))
    assert env.header_text(q(WSA, "Action")) == "urn:a" and env.header_text(q(WSA, "To")) is None
    assert env.payload is None


@pytest.mark.parametrize(("xml", "message"), [
    (f'<e:Envelope xmlns:e="{SOAP11}"><e:Body/></e:Envelope>'.encode(), "SOAP 1.1"),
    (b'<Envelope xmlns="urn:other"><Body/></Envelope>', "not a SOAP 1.2 envelope"),
    (f'<e:Envelope xmlns:e="{SOAP12}"><e:Body/><e:Body/></e:Envelope>'.encode(), "exactly one Body"),
    (f'<e:Envelope xmlns:e="{SOAP12}"><e:Body>'.encode(), "malformed XML"),
])
def test_bad_envelopes_are_refused(xml: bytes, message: str) -> None:
    with pytest.raises(InvalidPayload, match=message):
        parse_envelope(xml)


def _fault_xml(detail: str) -> bytes:
    return (f'<e:Envelope xmlns:e="{SOAP12}" xmlns:x="{XTA}" xmlns:m="{OSCIMETA}"><e:Body><e:Fault>'
            "<e:Code><e:Value>e:Sender</e:Value></e:Code><e:Reason><e:Text>no</e:Text></e:Reason>"
            f"<e:Detail>{detail}</e:Detail></e:Fault></e:Body></e:Envelope>").encode()


def test_fault_detail_is_read_with_its_error_code() -> None:
    # The published layout: xta:errorCode with the unqualified children code and name.
    xml = _fault_xml('<x:PermissionDeniedException><x:errorCode listURI="urn:de:xta:webservice:codeliste:'
                     'fehlernummer" listVersionID="1.0"><code> 9011 </code><name>Account ist gesperrt.</name>'
                     "</x:errorCode></x:PermissionDeniedException>")
    fault = read_fault(parse_envelope(xml))
    assert fault is not None
    assert (fault.soap_code, fault.detail_element, fault.error_code) == ("Sender", "PermissionDeniedException",
                                                                         "9011")
    detail = parse_envelope(xml).body.find(f"{q(SOAP12, 'Fault')}/{q(SOAP12, 'Detail')}")[0]
    load_schema(SCHEMA_DIR / "xta-interface.xsd").validate(detail, label="fault detail")


def test_error_code_in_another_layout_is_not_taken() -> None:
    # Qualified or capitalised children are not the published layout; the exception element decides.
    xml = _fault_xml("<x:PermissionDeniedException><x:ErrorCode><m:Code>9011</m:Code></x:ErrorCode>"
                     "<x:errorCode><x:code>9011</x:code></x:errorCode></x:PermissionDeniedException>")
    fault = read_fault(parse_envelope(xml))
    assert fault is not None and fault.detail_element == "PermissionDeniedException" and fault.error_code is None


def test_lookup_service_names_the_reader_as_party_before_the_service(captured: tuple[XtaClient, Captured]
                                                                     ) -> None:
    client, seen = captured
    client.lookup_service("urn:x", samples.STATE_PORTAL)
    env = parse_envelope(seen[-1][1])
    lookup = env.body.find(f".//{q(XTA, 'LookupService')}")
    assert [etree.QName(c).text for c in lookup] == [q(OSCIMETA, "Reader"), q(XTA, "ServiceType")]
    assert lookup.findtext(f"{q(OSCIMETA, 'Reader')}/{q(OSCIMETA, 'Identifier')}") == samples.STATE_PORTAL.value


def test_send_leaves_out_empty_optional_attributes(captured: tuple[XtaClient, Captured]) -> None:
    client, seen = captured
    portal = XtaClient(client.base_url, samples.STATE_PORTAL, client.http)
    samples.post(portal, samples.WOHNGELD, b"<x/>", [Content(b"", "text/plain", "", "", "")])
    body, ctype = next((b, c) for u, b, c in seen if u.endswith("SendXtaPort"))
    attachment = parse_envelope(mtom.parse(body, ctype).root.data).body.find(f".//{q(XTA, 'Attachment')}")
    assert dict(attachment.attrib) == {"contentType": "text/plain"}  # size is positive, strings non-empty


def test_content_is_read_from_xop_parts_or_inline_base64() -> None:
    xml = (f'<x:Message xmlns:x="{XTA}" xmlns:xop="{XOP}" contentType="a/b"><xop:Include href="cid:p%401"/>'
           "</x:Message>").encode()
    el = safexml.parse(xml)
    part = mtom.Part("p@1", "a/b", memoryview(b"data"))
    assert content_bytes(el, {"p@1": part}).tobytes() == b"data"
    with pytest.raises(InvalidPayload, match="missing MIME part"):
        content_bytes(el, {})
    inline = safexml.parse(f'<x:Message xmlns:x="{XTA}">aGVs\nbG8=</x:Message>'.encode())
    assert content_bytes(inline, {}).tobytes() == b"hello"


WSDL_NS = {"w": "http://schemas.xmlsoap.org/wsdl/", "s": "http://schemas.xmlsoap.org/wsdl/soap12/",
           "wsam": "http://www.w3.org/2007/05/addressing/metadata"}


def test_wsdl_names_the_three_ports_and_every_operation() -> None:
    wsdl = safexml.parse(Path(SCHEMA_DIR / "XTA.wsdl").read_bytes())
    ns = WSDL_NS
    ports = set(wsdl.xpath("//w:service/w:port/@name", namespaces=ns))
    assert ports == {p for p, _ in OPERATIONS.values()}
    assert set(wsdl.xpath("//w:binding/w:operation/@name", namespaces=ns)) == set(OPERATIONS)
    assert set(wsdl.xpath("//w:portType/@name", namespaces=ns)) == {
        "managementPortType", "sendPortType", "msgBoxPortType"}


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_wsdl_actions_match_the_client(operation: str) -> None:
    wsdl = safexml.parse(Path(SCHEMA_DIR / "XTA.wsdl").read_bytes())
    ns, action = WSDL_NS, OPERATIONS[operation][1]
    port_op = wsdl.xpath(f"//w:portType/w:operation[@name='{operation}']", namespaces=ns)[0]
    assert {a for a in port_op.xpath("*/@wsam:Action", namespaces=ns)} == {action}  # input, output, faults
    assert wsdl.xpath(f"//w:binding/w:operation[@name='{operation}']/s:operation/@soapAction",
                      namespaces=ns) == [action]


def test_wsdl_author_header_is_the_oscimeta_author_element() -> None:
    wsdl = safexml.parse(Path(SCHEMA_DIR / "XTA.wsdl").read_bytes())
    ns = WSDL_NS
    part = wsdl.xpath("//w:message[@name='XTAHeader']/w:part[@name='AuthorIdentifier']", namespaces=ns)[0]
    prefix, local = part.get("element").split(":")
    assert (part.nsmap[prefix], local) == (OSCIMETA, "Author")
    with_author = set(wsdl.xpath("//w:binding/w:operation[w:input/s:header/@part='AuthorIdentifier']/@name",
                                 namespaces=ns))
    assert with_author == set(OPERATIONS) - {"sendMessage"}

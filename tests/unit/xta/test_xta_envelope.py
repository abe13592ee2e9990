"""Envelope building: WS-Addressing on every call, Author where the interface wants it, and
every request valid against the XTA schemas the sandbox enforces."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from adapters.xta import mtom, samples
from adapters.xta.client import Content, XtaClient
from adapters.xta.ns import ANONYMOUS, OPERATIONS, OSCIMETA, SCHEMA_DIR, SOAP11, SOAP12, WSA, XOP, XTA, q
from adapters.xta.sandbox.store import SandboxState
from adapters.xta.soap import content_bytes, envelope, parse_envelope, read_fault
from adapters.xta.testing import sandbox_transport
from gateway import safexml
from gateway.errors import InvalidPayload

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
    message_id = samples.post(portal, samples.WOHNGELD, b"<x/>", [Content(b"%PDF", "application/pdf", "a.pdf")])
    client.check_account_active()
    client.lookup_service("urn:fim:Wohngeld-Mietzuschuss:1.5", samples.STATE_PORTAL)
    page = client.get_status_list(1)
    client.get_message(message_id)
    client.close([message_id], page.request_id)
    portal.get_transport_report(message_id)


def test_every_call_carries_ws_addressing_and_is_schema_valid(captured: tuple[XtaClient, Captured]) -> None:
    client, seen = captured
    _all_operations(client)
    schema = safexml.load_fast_schema(SCHEMA_DIR / "xta-interface.xsd")
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
            assert schema.validate(element), (action, schema.error_log.last_error)
    assert actions == {a for _, a in OPERATIONS.values() if not a.endswith("GetNextRequest")}


def test_author_header_on_management_and_mailbox_calls_but_not_on_send(captured: tuple[XtaClient, Captured]
                                                                       ) -> None:
    client, seen = captured
    _all_operations(client)
    for url, body, ctype in seen:
        env = parse_envelope(mtom.parse(body, ctype).root.data)
        assert env.header is not None
        author = env.header.find(q(XTA, "AuthorIdentifier"))
        if url.endswith("SendXtaPort"):
            assert author is None
            assert env.header.find(q(OSCIMETA, "MessageMetaData")) is not None
            assert 'type="application/xop+xml"' in ctype  # sendMessage is MTOM
        else:
            assert author is not None and author.findtext(q(OSCIMETA, "Identifier")) in (
                samples.TOWN.value, samples.STATE_PORTAL.value)


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


def test_fault_detail_is_read_with_its_error_code() -> None:
    xml = (f'<e:Envelope xmlns:e="{SOAP12}" xmlns:x="{XTA}" xmlns:m="{OSCIMETA}"><e:Body><e:Fault>'
           "<e:Code><e:Value>e:Sender</e:Value></e:Code><e:Reason><e:Text>no</e:Text></e:Reason>"
           "<e:Detail><x:PermissionDeniedException><x:ErrorCode><m:Code> 9011 </m:Code></x:ErrorCode>"
           "</x:PermissionDeniedException></e:Detail></e:Fault></e:Body></e:Envelope>").encode()
    fault = read_fault(parse_envelope(xml))
    assert fault is not None
    assert (fault.soap_code, fault.detail_element, fault.error_code) == ("Sender", "PermissionDeniedException",
                                                                         "9011")


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


def test_wsdl_names_the_three_ports_and_every_operation() -> None:
    wsdl = safexml.parse(Path(SCHEMA_DIR / "XTA.wsdl").read_bytes())
    ns = {"w": "http://schemas.xmlsoap.org/wsdl/"}
    ports = set(wsdl.xpath("//w:service/w:port/@name", namespaces=ns))
    assert ports == {p for p, _ in OPERATIONS.values()}
    assert set(wsdl.xpath("//w:binding/w:operation/@name", namespaces=ns)) == set(OPERATIONS)

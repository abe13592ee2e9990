"""schemas/xta pins the published XTA 2 Version 3 structure: documents in the published form are
valid, the forms the earlier, remembered subset used (or allowed) are not."""

from __future__ import annotations

import pytest

from adapters.xta.ns import OSCI, OSCIMETA, SCHEMA_DIR, WSA, XTA
from gateway import safexml
from gateway.errors import InvalidPayload
from gateway.safexml_schemas import XmlSchema, load_schema

NS = f'xmlns:x="{XTA}" xmlns:m="{OSCIMETA}" xmlns:o="{OSCI}" xmlns:a="{WSA}"'
PARTY = '<m:Identifier type="xoev">wgb:1</m:Identifier>'
ERROR_CODE = ('<x:errorCode listURI="urn:de:xta:webservice:codeliste:fehlernummer" listVersionID="1.0">'
              "<code>9070</code><name>MessageID unknown</name></x:errorCode>")
STATUS = "<x:Status>0</x:Status>"


def _report(identity: str = "<x:XTAServerIdentity>xta-1</x:XTAServerIdentity>", status: str = STATUS) -> str:
    meta = (f"<m:MessageMetaData><m:DeliveryAttributes/><m:Originators><m:Author>{PARTY}</m:Author>"
            f"</m:Originators><m:Destinations><m:Reader>{PARTY}</m:Reader></m:Destinations><m:MsgIdentification>"
            "<a:MessageID>urn:de:xta:messageid:1</a:MessageID></m:MsgIdentification><m:Qualifier><m:Service>urn:s"
            '</m:Service><m:BusinessScenario><m:Undefined>X</m:Undefined></m:BusinessScenario><m:MessageType '
            'listURI="urn:l" listVersionID="1" payloadSchema="urn:p"><code>c</code></m:MessageType></m:Qualifier>'
            "</m:MessageMetaData>")
    return (f"<x:TransportReport {NS}>{meta}<x:ReportTime>2025-01-01T00:00:00Z</x:ReportTime>{identity}"
            f"<x:MessageStatus>{status}</x:MessageStatus></x:TransportReport>")


def _content(attributes: str) -> str:
    return (f"<x:GenericContentContainer {NS}><x:ContentContainer><x:Message {attributes}>AA==</x:Message>"
            "</x:ContentContainer></x:GenericContentContainer>")


VALID = {
    "author header": f"<m:Author {NS}>{PARTY}</m:Author>",
    "status list request, published ListForm": f'<o:MsgBoxStatusListRequest {NS} ListForm="MessageMetaData"/>',
    "short list form, published spelling": f'<o:MsgBoxStatusListRequest {NS} ListForm="MsgAtrributes"/>',
    "fetch request with MsgPart attribute": (f'<o:MsgBoxFetchRequest {NS} MsgPart="Envelope"><o:MsgSelector>'
                                             "<a:MessageID>urn:1</a:MessageID></o:MsgSelector></o:MsgBoxFetchRequest>"),
    "close without LastMsgReceived": f'<o:MsgBoxCloseRequest {NS} MsgBoxRequestID="urn:uuid:1"/>',
    "empty list with reason": (f'<o:MsgBoxResponse {NS} MsgBoxRequestID="urn:1"><o:NoMessageAvailable '
                               f'reason="{OSCI}/MsgBox/reasons/NoMatch"/></o:MsgBoxResponse>'),
    "exception with errorCode": f"<x:InvalidMessageIDException {NS}>{ERROR_CODE}</x:InvalidMessageIDException>",
    "lookup: Reader (PartyType) before ServiceType": (
        f"<x:LookupServiceRequest {NS}><x:LookupServiceRequestList><x:LookupService><m:Reader>{PARTY}</m:Reader>"
        "<x:ServiceType>urn:s</x:ServiceType></x:LookupService></x:LookupServiceRequestList></x:LookupServiceRequest>"),
    "transport report": _report(),
    "transport report, red with an error record": _report(status=(
        "<x:Status>3</x:Status><x:ErrorList><x:Error><x:Timestamp>2025-01-01T00:00:00Z</x:Timestamp>"
        '<x:Code listURI="urn:l" listVersionID="1"><code>E</code></x:Code><x:Reason>r</x:Reason></x:Error>'
        "</x:ErrorList>")),
    "content with its attributes": _content('contentType="a/b" size="1" filename="f.xml" encoding="UTF-8" '
                                            'contentDescription="d" id="m1" lang="de"'),
    "encrypted content": (f'<x:GenericContentContainer {NS}><e:EncryptedData '
                          'xmlns:e="http://www.w3.org/2001/04/xmlenc#"/></x:GenericContentContainer>'),
}

INVALID = {
    "xta:AuthorIdentifier is no element of the interface": f"<x:AuthorIdentifier {NS}>{PARTY}</x:AuthorIdentifier>",
    "PartyIdentifier without type": f"<m:Author {NS}><m:Identifier>wgb:1</m:Identifier></m:Author>",
    "ListForm spelled MsgAttributes": f'<o:MsgBoxStatusListRequest {NS} ListForm="MsgAttributes"/>',
    "MsgPart as an element": (f"<o:MsgBoxFetchRequest {NS}><o:MsgSelector/><o:MsgPart>urn:x</o:MsgPart>"
                              "</o:MsgBoxFetchRequest>"),
    "empty list without reason": (f'<o:MsgBoxResponse {NS} MsgBoxRequestID="urn:1"><o:NoMessageAvailable/>'
                                  "</o:MsgBoxResponse>"),
    "errorCode without name": (f"<x:PermissionDeniedException {NS}><x:errorCode><code>9011</code></x:errorCode>"
                               "</x:PermissionDeniedException>"),
    "ErrorCode with qualified Code": (f"<x:PermissionDeniedException {NS}><x:ErrorCode><m:Code>9011</m:Code>"
                                      "</x:ErrorCode></x:PermissionDeniedException>"),
    "lookup: ServiceType before Reader": (
        f"<x:LookupServiceRequest {NS}><x:LookupServiceRequestList><x:LookupService>"
        f"<x:ServiceType>urn:s</x:ServiceType><m:Reader>{PARTY}</m:Reader></x:LookupService>"
        "</x:LookupServiceRequestList></x:LookupServiceRequest>"),
    "server identity with attributes": _report('<x:XTAServerIdentity type="xoev">xta-1</x:XTAServerIdentity>'),
    "content of size 0": _content('contentType="a/b" size="0"'),
    "empty filename": _content('contentType="a/b" filename=""'),
    "content without contentType": _content('size="1"'),
    "MsgSize 0": _report().replace("</m:Qualifier>", "</m:Qualifier><m:MsgSize>0</m:MsgSize>"),
    "code qualified": _report().replace("<code>c</code>", "<m:Code>c</m:Code>"),
    "code without list": _report().replace(' listURI="urn:l" listVersionID="1" payloadSchema', " payloadSchema"),
}


def _schema() -> XmlSchema:
    return load_schema(SCHEMA_DIR / "xta-interface.xsd")


@pytest.mark.parametrize("name", sorted(VALID))
def test_published_form_is_valid(name: str) -> None:
    _schema().validate(safexml.parse(VALID[name].encode()), label=name)


@pytest.mark.parametrize("name", sorted(INVALID))
def test_other_forms_are_invalid(name: str) -> None:
    with pytest.raises(InvalidPayload, match="not valid against its schema"):
        _schema().validate(safexml.parse(INVALID[name].encode()), label=name)

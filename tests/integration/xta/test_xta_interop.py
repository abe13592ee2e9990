"""An independent SOAP client (zeep, built from the WSDL the sandbox serves, which follows the
published XTA 2 Version 3 WSDL) talks to the sandbox: every operation the gateway uses, the
Author header, the published actions, faults with their error codes; messages zeep sends with
inline base64 reach our client as MTOM, and vice versa."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import zeep
from zeep.exceptions import Fault
from zeep.wsa import WsAddressingPlugin

from adapters.xta import samples
from adapters.xta.client import Content, XtaClient
from adapters.xta.container import read_message
from adapters.xta.errors import CODE_LIST
from adapters.xta.metadata import Party
from adapters.xta.ns import BUSINESS_SCENARIO_LIST, ELEMENT_NAME_LIST, OPERATIONS, XTA
from gateway.ports import StoredBlob
from gateway.store.blobs import FilesystemBlobStore


def _party(value: str) -> dict[str, Any]:
    return {"Identifier": {"_value_1": value, "type": "xoev"}}


def _author(value: str) -> dict[str, Any]:
    # The WSDL's header part "AuthorIdentifier" is the element oscimeta:Author.
    return {"AuthorIdentifier": _party(value)}


def _zeep(url: str) -> zeep.Client:
    # The project's XML defaults (docs: zeep Settings); zeep follows the WSDL's schema imports
    # from the sandbox (a location we trust), DTDs and entities stay forbidden.
    settings = zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=False,
                             xml_huge_tree=False)
    return zeep.Client(url + "/services/XTAService/ManagementPort?wsdl",  # type: ignore[no-untyped-call]
                       settings=settings, plugins=[WsAddressingPlugin()])


def _metadata(message_id: str, payload: bytes) -> dict[str, Any]:
    return {
        "DeliveryAttributes": {}, "Originators": {"Author": _party(samples.STATE_PORTAL.value)},
        "Destinations": {"Reader": _party(samples.TOWN.value)}, "MsgIdentification": {"MessageID": message_id},
        "Qualifier": {"Service": samples.WOHNGELD.service,
                      "BusinessScenario": {"Defined": {"code": samples.WOHNGELD.business_scenario,
                                                       "listURI": BUSINESS_SCENARIO_LIST, "listVersionID": "1"}},
                      "MessageType": {"code": samples.WOHNGELD.code, "listURI": ELEMENT_NAME_LIST,
                                      "listVersionID": "1.0", "payloadSchema": samples.WOHNGELD.payload_schema}},
        "MsgSize": len(payload)}


def test_wsdl_is_served_with_the_sandbox_address(sandbox: tuple[str, Any]) -> None:
    url, _ = sandbox
    wsdl = httpx.get(url + "/services/XTAService/MsgBoxPort?wsdl")
    assert wsdl.status_code == 200
    assert f'location="{url}/services/XTAService/MsgBoxPort"' in wsdl.text
    assert httpx.get(url + "/services/XTAService/xta-211.xsd").status_code == 200
    assert httpx.get(url + "/services/XTAService/..%2Fsecret.xsd").status_code == 404


def test_zeep_sends_inline_base64_and_our_client_fetches_mtom(sandbox: tuple[str, Any], tmp_path: Path) -> None:
    url, state = sandbox
    client = _zeep(url)
    management = client.bind("XTAService", "ManagementPort")
    author = _author(samples.STATE_PORTAL.value)
    assert management.checkAccountActive(_soapheaders=author) is None  # an empty answer: active
    message_id = management.createMessageId(_soapheaders=author)["_value_1"]
    payload = samples.WOHNGELD.fixtures()[1].read_bytes()
    client.bind("XTAService", "SendXtaPort").sendMessage(
        ContentContainer={"Message": {"_value_1": payload, "contentType": "application/xml",
                                      "filename": "antrag.xml"},
                          "Attachment": [{"_value_1": b"%PDF-1.4 scan", "contentType": "application/pdf",
                                          "filename": "scan.pdf"}]},
        _soapheaders={"MessageMetaData": _metadata(message_id, payload)})
    blobs = FilesystemBlobStore(tmp_path / "blobs")
    with httpx.Client() as http:
        original = XtaClient(url, samples.TOWN, http).fetch_message(message_id, blobs)
    assert original.content_type.startswith("multipart/related")
    fetched = read_message(blobs.get(original.root.blob.key), {p.content_id: p.blob for p in original.parts
                                                               if p.content_id})
    stored = [fetched.message.data, *(a.data for a in fetched.attachments)]
    assert [blobs.get(s.key) for s in stored if isinstance(s, StoredBlob)] == [payload, b"%PDF-1.4 scan"]
    assert fetched.metadata.message_type.code == samples.WOHNGELD.code
    assert state.messages[message_id].fetched
    report = management.getTransportReport(_value_1=message_id, _soapheaders=author)
    assert report.MessageStatus.Status == 0  # open: not yet closed by the reader
    assert report.MessageMetaData.MsgIdentification.MessageID._value_1 == message_id


def test_zeep_reads_what_our_client_sent(sandbox: tuple[str, Any]) -> None:
    url, _ = sandbox
    with httpx.Client() as http:
        portal = XtaClient(url, samples.STATE_PORTAL, http)
        message_id = samples.post(portal, samples.GEWERBE, samples.GEWERBE.fixtures()[0].read_bytes(),
                                  [Content(b"\x00\x01binary", "application/octet-stream", "b.bin")])
    box = _zeep(url).bind("XTAService", "MsgBoxPort")
    town = _author(samples.TOWN.value)
    listed = box.getStatusList(ListForm="MessageMetaData", maxListItems=100, _soapheaders=town)
    ids = [m.MsgIdentification.MessageID._value_1 for m in listed.body.MessageMetaData]
    assert message_id in ids
    entry = next(m for m in listed.body.MessageMetaData if m.MsgIdentification.MessageID._value_1 == message_id)
    assert entry.Qualifier.MessageType.code == samples.GEWERBE.code  # unqualified code child
    fetched = box.getMessage(MsgSelector={"MessageID": [message_id]}, _soapheaders=town)
    assert fetched.header.MessageMetaData.MsgIdentification.MessageID._value_1 == message_id
    assert fetched.header.FetchResponseHeader.MsgBoxRequestID
    container = fetched.body.ContentContainer
    # zeep strips CR/LF at both ends of every "binary" MIME part (zeep.wsdl.attachments); the
    # fixture ends with a newline, so compare without it. Our own parser keeps parts exact.
    assert container.Message._value_1 == samples.GEWERBE.fixtures()[0].read_bytes().strip(b"\r\n")
    assert container.Attachment[0]._value_1 == b"\x00\x01binary"
    assert box.close(LastMsgReceived=[message_id], MsgBoxRequestID="1", _soapheaders=town) is None
    with httpx.Client() as http:
        assert XtaClient(url, samples.STATE_PORTAL, http).get_transport_report(message_id).status == 1


def test_zeep_pages_through_the_status_list(sandbox: tuple[str, Any]) -> None:
    url, _ = sandbox
    reader = "wgb:150855500000"
    with httpx.Client() as http:
        portal = XtaClient(url, samples.STATE_PORTAL, http)
        ids = [samples.post(portal, samples.GEWERBE, b"<x/>", reader=Party(reader)) for _ in range(3)]
    box = _zeep(url).bind("XTAService", "MsgBoxPort")
    first = box.getStatusList(ListForm="MessageMetaData", maxListItems=2, _soapheaders=_author(reader))
    assert first.header.FetchResponseHeader.ItemsPending == 1
    second = box.getNextStatusList(MsgBoxRequestID=first.header.FetchResponseHeader.MsgBoxRequestID,
                                   _soapheaders=_author(reader))
    listed = [m.MsgIdentification.MessageID._value_1 for m in
              [*first.body.MessageMetaData, *second.body.MessageMetaData]]
    assert listed == ids
    done = box.getNextStatusList(MsgBoxRequestID=second.header.FetchResponseHeader.MsgBoxRequestID,
                                 _soapheaders=_author(reader))
    assert done.header.FetchResponseHeader.NoMessageAvailable.reason.endswith("/MsgBox/reasons/RequestIdInvalid")


def test_zeep_lookup_service(sandbox: tuple[str, Any]) -> None:
    url, _ = sandbox
    management = _zeep(url).bind("XTAService", "ManagementPort")
    result = management.lookupService(
        LookupServiceRequestList=[{"LookupService": {"Reader": _party(samples.TOWN.value),
                                                     "ServiceType": samples.WOHNGELD.service}}],
        _soapheaders=_author(samples.STATE_PORTAL.value))
    answer = result[0]  # zeep unwraps LookupServiceResultList to its list of results
    assert answer.Reader.Identifier._value_1 == samples.TOWN.value
    assert answer.IsServiceAvailableValue.ServiceIsAvailable is True


def test_zeep_gets_xta_faults_with_their_error_code(sandbox: tuple[str, Any]) -> None:
    url, state = sandbox
    box = _zeep(url).bind("XTAService", "MsgBoxPort")
    with pytest.raises(Fault) as caught:
        box.getMessage(MsgSelector={"MessageID": ["urn:de:xta:messageid:unknown:1"]},
                       _soapheaders=_author(samples.TOWN.value))
    detail = caught.value.detail
    assert detail is not None
    exception = detail[0]
    assert exception.tag == f"{{{XTA}}}InvalidMessageIDException"
    error_code = exception.find(f"{{{XTA}}}errorCode")
    assert error_code.findtext("code") == "9070" and error_code.get("listURI") == CODE_LIST
    state.fail_next("checkAccountActive", "9011")
    with pytest.raises(Fault) as caught:
        _zeep(url).bind("XTAService", "ManagementPort").checkAccountActive(
            _soapheaders=_author(samples.TOWN.value))
    assert caught.value.detail[0].find(f"{{{XTA}}}errorCode").findtext("code") == "9011"


def test_zeep_uses_exactly_the_published_actions(sandbox: tuple[str, Any]) -> None:
    # Runs after the other tests of this module (same sandbox): every action zeep took from the
    # WSDL is one of the client's, none needed the sandbox's lenient alias matching.
    _, state = sandbox
    published = {action for _, action in OPERATIONS.values()}
    assert set(state.actions) <= published
    assert {"http://www.xta.de/XTA/CreateMessageID", "http://www.xta.de/XTA/IsServiceAvailable",
            "http://www.osci.eu/ws/2008/05/transport/urn/messageTypes/MsgBoxGetNextListRequest"} <= set(state.actions)

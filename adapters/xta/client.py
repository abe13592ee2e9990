"""XTA 2 Version 3 client: ManagementPort, SendXtaPort and MsgBoxPort over SOAP 1.2.

Envelopes are built with lxml (:mod:`.soap`) rather than zeep: getMessage must hand the
response bytes on unchanged (the core keeps the raw original) and sendMessage must send
MTOM, which zeep cannot. One httpx client carries the municipality's TLS client
certificate for all three ports.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from lxml import etree

from adapters.xta import mtom
from adapters.xta.errors import XtaAccountUnusable, XtaServerError, error_for
from adapters.xta.metadata import MessageMetaData, Party, StatusPage, read_status_page
from adapters.xta.ns import OPERATIONS, OSCI, OSCIMETA, SERVICE_PATH, SOAP12_MEDIA_TYPE, WSA, XOP, XTA, q
from adapters.xta.soap import Envelope, element, envelope, new_message_id, parse_envelope, read_fault
from gateway.errors import InvalidPayload

MAX_RESPONSE_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class Response:
    raw: bytes
    content_type: str
    envelope: Envelope
    parts: dict[str, mtom.Part]


@dataclass(frozen=True)
class Content:
    """One document to send: the message itself or an attachment."""

    data: bytes | memoryview
    media_type: str
    filename: str | None = None
    description: str | None = None
    encoding: str | None = None


@dataclass(frozen=True)
class TransportReport:
    """MessageStatus of a TransportReport: ``status`` 0 open (still in transport), 1 green (no
    errors or warnings), 2 yellow (warnings, no critical errors), 3 red (critical errors)."""

    status: int
    error_codes: list[str]  # ErrorList/Error/Code/code, from the code list the server names
    warning_codes: list[str] = field(default_factory=list)


class XtaClient:
    def __init__(self, base_url: str, author: Party, http: httpx.Client,
                 max_response_bytes: int = MAX_RESPONSE_BYTES) -> None:
        self.base_url = base_url.rstrip("/")
        self.author = author
        self.http = http
        self.max_response_bytes = max_response_bytes

    # --- ManagementPort -------------------------------------------------------------------
    def check_account_active(self) -> bool:
        """True when the account is set up and active. The answer has an empty body; an unusable
        account is answered with a PermissionDeniedException (raised as ``XtaAccountUnusable``).
        A server that answers with a boolean body instead is read as well."""
        env = self.call("checkAccountActive").envelope
        return env.payload is None or (env.payload.text or "").strip() in ("true", "1")

    def create_message_id(self) -> str:
        payload = self.call("createMessageId").envelope.payload
        if payload is None or payload.tag != q(WSA, "MessageID") or not (payload.text or "").strip():
            raise XtaServerError("createMessageId: response without a MessageID")
        return str(payload.text).strip()

    def get_transport_report(self, message_id: str) -> TransportReport:
        report = self.call("getTransportReport", [element(q(WSA, "MessageID"), message_id)]).envelope.payload
        if report is None or report.tag != q(XTA, "TransportReport"):
            raise XtaServerError("getTransportReport: response without a TransportReport")
        status = report.findtext(f"{q(XTA, 'MessageStatus')}/{q(XTA, 'Status')}")
        if status is None or not status.strip().isdigit():
            raise XtaServerError("getTransportReport: response without a MessageStatus")

        def codes(records: str) -> list[str]:
            found = report.xpath(f"x:MessageStatus/{records}/x:Code/code/text()", namespaces={"x": XTA})
            return [str(c).strip()[:100] for c in found]

        return TransportReport(int(status), codes("x:ErrorList/x:Error"), codes("x:WarnList/x:Warning"))

    def lookup_service(self, service: str, reader: Party) -> bool | None:
        """Can ``reader`` be reached for ``service``? None when the server does not know."""
        lookup = element(q(XTA, "LookupService"), children=[
            reader.to_xml(q(OSCIMETA, "Reader")), element(q(XTA, "ServiceType"), service)])
        request = element(q(XTA, "LookupServiceRequest"), children=[
            element(q(XTA, "LookupServiceRequestList"), children=[lookup])])
        response = self.call("lookupService", [request]).envelope.payload
        value = response.find(".//x:IsServiceAvailableValue/*", {"x": XTA}) if response is not None else None
        if value is None or etree.QName(value).localname == "ServiceIsAvailableUnknown":
            return None
        return (value.text or "").strip() in ("true", "1")

    # --- SendXtaPort ------------------------------------------------------------------------
    def send_message(self, metadata: MessageMetaData, message: Content, attachments: Sequence[Content] = ()
                     ) -> None:
        parts: list[mtom.OutPart] = []

        def content(tag: str, item: Content) -> Any:
            cid = mtom.new_content_id()
            parts.append(mtom.OutPart(cid, item.media_type, item.data))
            include = element(q(XOP, "Include"), attrib={"href": "cid:" + cid})
            # Optional attributes are non-empty strings, size a positive integer: leave out the rest.
            return element(q(XTA, tag), attrib={
                "contentType": item.media_type, "filename": item.filename or None, "encoding": item.encoding or None,
                "contentDescription": item.description or None, "size": str(len(item.data)) if len(item.data) else None,
            }, children=[include])

        container = element(q(XTA, "ContentContainer"), children=[
            content("Message", message), *(content("Attachment", a) for a in attachments)])
        self.call("sendMessage", [element(q(XTA, "GenericContentContainer"), children=[container])],
                  headers=[metadata.to_xml()], author=False, parts=parts)

    # --- MsgBoxPort ---------------------------------------------------------------------------
    def get_status_list(self, max_items: int = 100) -> StatusPage:
        request = element(q(OSCI, "MsgBoxStatusListRequest"),
                          attrib={"maxListItems": str(max_items), "ListForm": "MessageMetaData"})
        return read_status_page(self.call("getStatusList", [request]).envelope)

    def get_next_status_list(self, request_id: str) -> StatusPage:
        request = element(q(OSCI, "MsgBoxGetNextRequest"), attrib={"MsgBoxRequestID": request_id})
        return read_status_page(self.call("getNextStatusList", [request]).envelope)

    def get_message(self, message_id: str) -> Response:
        selector = element(q(OSCI, "MsgSelector"), children=[element(q(WSA, "MessageID"), message_id)])
        response = self.call("getMessage", [element(q(OSCI, "MsgBoxFetchRequest"), children=[selector])])
        if response.envelope.payload is None or response.envelope.payload.tag != q(XTA, "GenericContentContainer"):
            raise XtaServerError("getMessage: response without a GenericContentContainer")
        return response

    def close(self, message_ids: Iterable[str], request_id: str = "1") -> None:
        request = element(q(OSCI, "MsgBoxCloseRequest"), attrib={"MsgBoxRequestID": request_id},
                          children=[element(q(OSCI, "LastMsgReceived"), m) for m in message_ids])
        self.call("close", [request])

    # --- transport ------------------------------------------------------------------------------
    def call(self, operation: str, body: Sequence[Any] = (), *, headers: Sequence[Any] = (),
             author: bool = True, parts: Sequence[mtom.OutPart] = ()) -> Response:
        port, action = OPERATIONS[operation]
        url = self.base_url + SERVICE_PATH + port
        message_id = new_message_id()
        all_headers = [self.author.author_header(), *headers] if author else list(headers)
        xml = envelope(action=action, message_id=message_id, to=url, headers=all_headers, body=body)
        if parts:
            content, ctype = mtom.build(xml, parts, action=action)
        else:
            content, ctype = xml, f'{SOAP12_MEDIA_TYPE}; charset=utf-8; action="{action}"'
        raw, rtype, status = self._post(operation, url, content, ctype)
        try:
            multipart = mtom.parse(raw, rtype)
            env = parse_envelope(multipart.root.data)
        except InvalidPayload as exc:
            raise XtaServerError(f"{operation}: malformed response (HTTP {status}): {exc.detail}") from None
        fault = read_fault(env)
        if fault is not None:
            raise error_for(operation, fault.detail_element, fault.error_code, fault.soap_code)
        if status != 200:
            raise XtaServerError(f"{operation}: HTTP {status} without a SOAP fault")
        relates = env.header_text(q(WSA, "RelatesTo"))
        if relates is not None and relates != message_id:
            raise XtaServerError(f"{operation}: response relates to another request")
        return Response(raw, rtype, env, multipart.parts)

    def _post(self, operation: str, url: str, content: bytes, ctype: str) -> tuple[bytes, str, int]:
        try:
            with self.http.stream("POST", url, content=content, headers={"Content-Type": ctype}) as r:
                if r.status_code in (401, 403):
                    raise XtaAccountUnusable(f"{operation}: HTTP {r.status_code}, client certificate refused")
                if r.status_code not in (200, 400, 500):
                    raise XtaServerError(f"{operation}: HTTP {r.status_code}")
                chunks, size = [], 0
                for chunk in r.iter_bytes():
                    size += len(chunk)
                    if size > self.max_response_bytes:
                        raise XtaServerError(f"{operation}: response larger than {self.max_response_bytes} bytes")
                    chunks.append(chunk)
                return b"".join(chunks), r.headers.get("content-type", ""), r.status_code
        except httpx.HTTPError as exc:
            raise XtaServerError(f"{operation}: XTA server not reachable ({type(exc).__name__})") from None

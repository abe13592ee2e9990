"""XTA 2 Version 3 client: ManagementPort, SendXtaPort and MsgBoxPort over SOAP 1.2.

Envelopes are built with lxml (:mod:`.soap`) rather than zeep: getMessage must hand the
response on unchanged and streamed (the core keeps the raw original: :mod:`.original`) and
sendMessage must send MTOM, which zeep cannot. One httpx client carries the municipality's TLS client
certificate for all three ports.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from lxml import etree

from adapters.xta import mtom, mtom_stream
from adapters.xta.container import ROOT_MAX_BYTES
from adapters.xta.errors import XtaAccountUnusable, XtaServerError, error_for
from adapters.xta.metadata import MessageMetaData, Party, StatusPage, read_status_page
from adapters.xta.ns import OPERATIONS, OSCI, OSCIMETA, SERVICE_PATH, SOAP12_MEDIA_TYPE, WSA, XOP, XTA, q
from adapters.xta.original import Original, StoredPart
from adapters.xta.soap import Envelope, element, envelope, new_message_id, parse_envelope, read_fault
from gateway.errors import InvalidPayload
from gateway.ports import BlobStore

MAX_RESPONSE_BYTES = 512 * 1024 * 1024
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Response:
    raw: bytes
    content_type: str
    envelope: Envelope
    parts: dict[str, mtom.Part]


@dataclass(frozen=True)
class _Request:
    operation: str
    url: str
    message_id: str
    content: bytes
    content_type: str


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
        """getMessage held in memory, for tools and tests that look at one response; the intake
        fetches with :meth:`fetch_message`."""
        response = self.call("getMessage", [self._fetch_request(message_id)])
        if response.envelope.payload is None or response.envelope.payload.tag != q(XTA, "GenericContentContainer"):
            raise XtaServerError("getMessage: response without a GenericContentContainer")
        return response

    @staticmethod
    def _fetch_request(message_id: str) -> Any:
        selector = element(q(OSCI, "MsgSelector"), children=[element(q(WSA, "MessageID"), message_id)])
        return element(q(OSCI, "MsgBoxFetchRequest"), children=[selector])

    def fetch_message(self, message_id: str, blobs: BlobStore) -> Original:
        """getMessage, streamed: the envelope read into memory (it is small), every other MIME
        part written to the blob store while it arrives (:mod:`.mtom_stream`), so an attachment
        of any size costs a chunk of memory. Returns the manifest naming them (:mod:`.original`)."""
        request = self._request("getMessage", [self._fetch_request(message_id)])
        root: bytes | None = None
        root_part: tuple[str | None, str] = (None, SOAP12_MEDIA_TYPE)
        stored: list[StoredPart] = []
        with self._streamed(request) as (chunks, rtype, status):
            try:
                for part in mtom_stream.parts(chunks, rtype, max_part_bytes=self.max_response_bytes,
                                              max_root_bytes=ROOT_MAX_BYTES):
                    if part.root:
                        root, root_part = b"".join(part.body), (part.content_id, part.media_type)
                    else:  # nothing but its blob key stays in memory
                        stored.append(StoredPart(part.content_id, part.media_type, blobs.put_stream(part.body)))
            except InvalidPayload as exc:
                raise XtaServerError(f"getMessage: malformed response (HTTP {status}): {exc.detail}") from None
        env = self._answer(request, root or b"", status)
        if env.payload is None or env.payload.tag != q(XTA, "GenericContentContainer"):
            raise XtaServerError("getMessage: response without a GenericContentContainer")
        assert root is not None  # an answer without a root part is malformed (raised above)
        envelope_part = StoredPart(*root_part, blobs.put_stream([root]))
        return Original(rtype, envelope_part, stored)

    def close(self, message_ids: Iterable[str], request_id: str = "1") -> None:
        request = element(q(OSCI, "MsgBoxCloseRequest"), attrib={"MsgBoxRequestID": request_id},
                          children=[element(q(OSCI, "LastMsgReceived"), m) for m in message_ids])
        self.call("close", [request])

    # --- transport ------------------------------------------------------------------------------
    def call(self, operation: str, body: Sequence[Any] = (), *, headers: Sequence[Any] = (),
             author: bool = True, parts: Sequence[mtom.OutPart] = ()) -> Response:
        request = self._request(operation, body, headers=headers, author=author, parts=parts)
        raw, rtype, status = self._post(request)
        try:
            multipart = mtom.parse(raw, rtype)
        except InvalidPayload as exc:
            raise XtaServerError(f"{operation}: malformed response (HTTP {status}): {exc.detail}") from None
        env = self._answer(request, multipart.root.data, status)
        return Response(raw, rtype, env, multipart.parts)

    def _request(self, operation: str, body: Sequence[Any] = (), *, headers: Sequence[Any] = (),
                 author: bool = True, parts: Sequence[mtom.OutPart] = ()) -> _Request:
        port, action = OPERATIONS[operation]
        url = self.base_url + SERVICE_PATH + port
        message_id = new_message_id()
        all_headers = [self.author.author_header(), *headers] if author else list(headers)
        xml = envelope(action=action, message_id=message_id, to=url, headers=all_headers, body=body)
        if parts:
            content, ctype = mtom.build(xml, parts, action=action)
        else:
            content, ctype = xml, f'{SOAP12_MEDIA_TYPE}; charset=utf-8; action="{action}"'
        return _Request(operation, url, message_id, content, ctype)

    def _answer(self, request: _Request, root: bytes | memoryview, status: int) -> Envelope:
        """The response's envelope, once it is neither a fault nor an answer to something else."""
        operation = request.operation
        try:
            env = parse_envelope(root)
        except InvalidPayload as exc:
            raise XtaServerError(f"{operation}: malformed response (HTTP {status}): {exc.detail}") from None
        fault = read_fault(env)
        if fault is not None:
            raise error_for(operation, fault.detail_element, fault.error_code, fault.soap_code)
        if status != 200:
            raise XtaServerError(f"{operation}: HTTP {status} without a SOAP fault")
        relates = env.header_text(q(WSA, "RelatesTo"))
        if relates is not None and relates != request.message_id:
            raise XtaServerError(f"{operation}: response relates to another request")
        return env

    def _post(self, request: _Request) -> tuple[bytes, str, int]:
        with self._streamed(request) as (chunks, rtype, status):
            return b"".join(chunks), rtype, status

    @contextmanager
    def _streamed(self, request: _Request) -> Iterator[tuple[Iterator[bytes], str, int]]:
        """The response as it arrives: its chunks (at most ``max_response_bytes`` in all), type, status."""
        operation = request.operation
        try:
            with self.http.stream("POST", request.url, content=request.content,
                                  headers={"Content-Type": request.content_type}) as r:
                if r.status_code in (401, 403):
                    raise XtaAccountUnusable(f"{operation}: HTTP {r.status_code}, client certificate refused")
                if r.status_code not in (200, 400, 500):
                    raise XtaServerError(f"{operation}: HTTP {r.status_code}")

                def chunks() -> Iterator[bytes]:
                    size = 0
                    for chunk in r.iter_bytes(CHUNK):
                        size += len(chunk)
                        if size > self.max_response_bytes:
                            raise XtaServerError(f"{operation}: response larger than {self.max_response_bytes} bytes")
                        yield chunk

                yield chunks(), r.headers.get("content-type", ""), r.status_code
        except httpx.HTTPError as exc:
            raise XtaServerError(f"{operation}: XTA server not reachable ({type(exc).__name__})") from None

"""What each XTA operation does in the sandbox.

A handler receives the parsed request and returns the response's SOAP headers, body
elements and binary parts; :mod:`.app` wraps them into an envelope (MTOM when there are
parts) and turns :class:`SandboxFault` into SOAP faults.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from adapters.xta import mtom
from adapters.xta.metadata import NS, MessageMetaData, Party
from adapters.xta.ns import NO_MATCH, OSCI, OSCIMETA, REQUEST_ID_INVALID, WSA, XOP, XTA, q
from adapters.xta.sandbox.store import Page, SandboxFault, SandboxState, StoredContent, StoredMessage
from adapters.xta.soap import Envelope, content_bytes, element


@dataclass
class Call:
    state: SandboxState
    env: Envelope
    parts: dict[str, mtom.Part]
    author: Party | None
    mtom_responses: bool = True

    @property
    def body(self) -> Any:
        """The body element; the app has checked it is the one this operation expects."""
        return self.env.payload


@dataclass
class Reply:
    headers: list[Any] = field(default_factory=list)
    body: list[Any] = field(default_factory=list)
    parts: list[mtom.OutPart] = field(default_factory=list)


def _author(call: Call) -> str:
    if call.author is None:
        raise SandboxFault("Author header missing", code="9020", fault="ParameterIsNotValidException")
    call.state.check_account(call.author.value)
    return call.author.value


def check_account_active(call: Call) -> Reply:
    _author(call)
    return Reply()  # an empty body says "active"; an unusable account is a PermissionDeniedException


def create_message_id(call: Call) -> Reply:
    _author(call)
    return Reply(body=[element(q(WSA, "MessageID"), call.state.new_message_id())])


def send_message(call: Call) -> Reply:
    header = call.env.header.find(q(OSCIMETA, "MessageMetaData")) if call.env.header is not None else None
    if header is None:
        raise SandboxFault("MessageMetaData header missing", code="9020", fault="ParameterIsNotValidException")
    metadata = MessageMetaData.from_xml(header)
    call.state.check_account(metadata.author.value, metadata.service)
    container = call.body.find(q(XTA, "ContentContainer"))
    if container is None:
        raise SandboxFault("only unencrypted ContentContainer is supported", fault="ParameterIsNotValidException")

    def stored(el: Any) -> StoredContent:
        return StoredContent(el.get("contentType"), bytes(content_bytes(el, call.parts)), el.get("filename"),
                             el.get("contentDescription"), el.get("encoding"))

    call.state.store(StoredMessage(metadata, stored(container.find(q(XTA, "Message"))),
                                   [stored(a) for a in container.findall(q(XTA, "Attachment"))],
                                   dt.datetime.now(dt.UTC)))
    return Reply()


def _no_message(request_id: str, reason: str) -> Any:
    return element(q(OSCI, "MsgBoxResponse"), attrib={"MsgBoxRequestID": request_id},
                   children=[element(q(OSCI, "NoMessageAvailable"), attrib={"reason": reason})])


def _short_entry(message: StoredMessage) -> Any:
    """One entry of the short list form (ListForm="MsgAtrributes")."""
    meta = message.metadata
    children = [element(q(WSA, "MessageID"), meta.message_id),
                element(q(OSCI, "TypeOfBusinessScenario"), meta.service),
                element(q(OSCI, "MsgSize"), str(min(meta.msg_size, 2**31 - 1))),
                element(q(OSCI, "DeliveryTime"), message.received_at.isoformat())]
    if message.fetched_at is not None:
        children.append(element(q(OSCI, "InitialFetchedTime"), message.fetched_at.isoformat()))
    return element(q(OSCI, "MsgAttributes"), children=children)


def _status_list(call: Call, page: Page) -> Reply:
    if page.ids:
        box = element(q(OSCI, "MsgBoxResponse"), attrib={"MsgBoxRequestID": page.request_id},
                      children=[element(q(OSCI, "ItemsPending"), str(page.pending))])
    else:
        box = _no_message(page.request_id, NO_MATCH)
    messages = [call.state.messages[mid] for mid in page.ids]
    entries = [_short_entry(m) if page.short else m.metadata.to_xml() for m in messages]
    return Reply(headers=[box], body=[element(q(OSCI, "MsgStatusList"), children=entries)])


def get_status_list(call: Call) -> Reply:
    reader = _author(call)
    request = call.body
    # XTA clients ask for MessageMetaData; without ListForm the sandbox answers in that form too.
    short = request.get("ListForm") == "MsgAtrributes"  # sic: the published enumeration value
    size = int(request.get("maxListItems") or 100)
    return _status_list(call, call.state.page(call.state.open_messages(reader), size, short))


def get_next_status_list(call: Call) -> Reply:
    _author(call)
    request_id = call.body.get("MsgBoxRequestID", "")
    page = call.state.next_page(request_id)
    if page is None:  # unknown or finished list: OSCI answers with a reason, not with a fault
        return Reply(headers=[_no_message(request_id, REQUEST_ID_INVALID)], body=[element(q(OSCI, "MsgStatusList"))])
    return _status_list(call, page)


def get_message(call: Call) -> Reply:
    reader = _author(call)
    ids = call.body.xpath("osci:MsgSelector/wsa:MessageID/text()", namespaces={"osci": OSCI, **NS})
    if len(ids) != 1:
        raise SandboxFault("getMessage selects exactly one MessageID", code="9022",
                           fault="ParameterIsNotValidException")
    message = call.state.mailbox_message(reader, ids[0].strip())
    message.fetched = True
    message.fetched_at = message.fetched_at or dt.datetime.now(dt.UTC)
    reply = Reply()

    def content(tag: str, item: StoredContent) -> Any:
        el = element(q(XTA, tag), attrib={"contentType": item.media_type, "filename": item.filename or None,
                                          "contentDescription": item.description or None,
                                          "encoding": item.encoding or None,
                                          "size": str(item.size) if item.size else None})
        if call.mtom_responses:
            cid = mtom.new_content_id()
            reply.parts.append(mtom.OutPart(cid, item.media_type, item.data))
            el.append(element(q(XOP, "Include"), attrib={"href": "cid:" + cid}))
        else:
            el.text = base64.b64encode(item.read()).decode("ascii")
        return el

    container = element(q(XTA, "ContentContainer"), children=[
        content("Message", message.message), *(content("Attachment", a) for a in message.attachments)])
    others = len(call.state.open_messages(reader)) - 1
    box = element(q(OSCI, "MsgBoxResponse"), attrib={"MsgBoxRequestID": f"urn:uuid:{uuid.uuid4()}"},
                  children=[element(q(OSCI, "ItemsPending"), str(max(0, others)))])
    reply.headers = [message.metadata.to_xml(), box]
    reply.body = [element(q(XTA, "GenericContentContainer"), children=[container])]
    return reply


def close(call: Call) -> Reply:
    reader = _author(call)
    ids = [i.strip() for i in call.body.xpath("osci:LastMsgReceived/text()", namespaces={"osci": OSCI})]
    if not ids:  # closes the list (iterator) named by MsgBoxRequestID
        call.state.drop_list(call.body.get("MsgBoxRequestID", ""))
        return Reply()
    with call.state.lock:
        messages = [call.state.mailbox_message(reader, mid) for mid in ids]  # all or nothing
        for message in messages:
            message.closed = True
    call.state.calls.update({f"closed:{mid}": 1 for mid in ids})
    return Reply()


def get_transport_report(call: Call) -> Reply:
    author = _author(call)
    message_id = (call.body.text or "").strip()
    message = call.state.messages.get(message_id)
    if message is None or message.metadata.author.value != author:
        raise SandboxFault("no message with this MessageID from this author", fault="InvalidMessageIDException")
    # 0 open until the reader has closed (acknowledged) the message, then 1 (green).
    status = element(q(XTA, "MessageStatus"), children=[element(q(XTA, "Status"), "1" if message.closed else "0")])
    report = element(q(XTA, "TransportReport"), children=[
        message.metadata.to_xml(), element(q(XTA, "ReportTime"), dt.datetime.now(dt.UTC).isoformat()),
        element(q(XTA, "XTAServerIdentity"), call.state.server_identity), status])
    return Reply(body=[report])


def lookup_service(call: Call) -> Reply:
    _author(call)
    results = []
    for lookup in call.body.iterfind(f"{q(XTA, 'LookupServiceRequestList')}/{q(XTA, 'LookupService')}"):
        reader = Party.from_xml(lookup.find(q(OSCIMETA, "Reader")), "LookupService/Reader")
        service = (lookup.findtext(q(XTA, "ServiceType")) or "").strip()
        try:
            call.state.check_account(reader.value, service)
            available = "true"
        except SandboxFault:
            available = "false"
        results.append(element(q(XTA, "LookupServiceResult"), children=[
            reader.to_xml(q(OSCIMETA, "Reader")), element(q(XTA, "ServiceType"), service),
            element(q(XTA, "IsServiceAvailableValue"), children=[element(q(XTA, "ServiceIsAvailable"), available)])]))
    return Reply(body=[element(q(XTA, "LookupServiceResponse"), children=[
        element(q(XTA, "LookupServiceResultList"), children=results)])])


# operation -> (handler, expected body element; None for an empty body)
HANDLERS: dict[str, tuple[Callable[[Call], Reply], str | None]] = {
    "checkAccountActive": (check_account_active, None),
    "createMessageId": (create_message_id, None),
    "getTransportReport": (get_transport_report, q(WSA, "MessageID")),
    "lookupService": (lookup_service, q(XTA, "LookupServiceRequest")),
    "sendMessage": (send_message, q(XTA, "GenericContentContainer")),
    "getStatusList": (get_status_list, q(OSCI, "MsgBoxStatusListRequest")),
    "getNextStatusList": (get_next_status_list, q(OSCI, "MsgBoxGetNextRequest")),
    "getMessage": (get_message, q(OSCI, "MsgBoxFetchRequest")),
    "close": (close, q(OSCI, "MsgBoxCloseRequest")),
}

"""SOAP 1.2 envelopes with WS-Addressing, built and read with lxml.

Used by the client (requests out, responses in) and by the sandbox (the reverse), so both
sides agree on one wire format. Reading never trusts the input: parsing goes through
:mod:`gateway.safexml`, and every structural problem is an ``InvalidPayload`` that says
what is wrong and where.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from lxml import etree

from adapters.xta.errors import shown
from adapters.xta.mtom import Part, cid_key
from adapters.xta.ns import ANONYMOUS, FAULT_ACTION, NSMAP, SOAP11, SOAP12, WSA, XOP, XTA, q
from gateway import safexml
from gateway.errors import InvalidPayload

ENVELOPE_MAX_BYTES = 64 * 1024 * 1024
T = TypeVar("T")


def new_message_id() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def element(tag: str, text: str | None = None, attrib: Mapping[str, str | None] | None = None,
            children: Iterable[Any] = ()) -> Any:
    el = etree.Element(tag, {k: v for k, v in (attrib or {}).items() if v is not None})
    if text is not None:
        el.text = text
    el.extend(children)
    return el


def envelope(*, action: str, message_id: str, to: str | None, headers: Iterable[Any] = (),
             body: Iterable[Any] = (), relates_to: str | None = None) -> bytes:
    """A SOAP 1.2 envelope with the WS-Addressing headers every XTA call carries."""
    env = etree.Element(q(SOAP12, "Envelope"), nsmap=NSMAP)
    header = etree.SubElement(env, q(SOAP12, "Header"))
    header.append(element(q(WSA, "Action"), action))
    header.append(element(q(WSA, "MessageID"), message_id))
    if to:
        header.append(element(q(WSA, "To"), to))
    if relates_to:
        header.append(element(q(WSA, "RelatesTo"), relates_to))
    else:
        # Synchronous request-response: the reply goes back on the same HTTP connection.
        header.append(element(q(WSA, "ReplyTo"), children=[element(q(WSA, "Address"), ANONYMOUS)]))
    header.extend(headers)
    etree.SubElement(env, q(SOAP12, "Body")).extend(body)
    data: bytes = etree.tostring(env, xml_declaration=True, encoding="UTF-8")
    return data


@dataclass(frozen=True)
class Envelope:
    root: Any
    header: Any | None
    body: Any

    def header_text(self, tag: str) -> str | None:
        el = self.header.find(tag) if self.header is not None else None
        return el.text.strip() if el is not None and el.text else None

    @property
    def payload(self) -> Any | None:
        """The first element of the Body (None for an empty body)."""
        return self.body[0] if len(self.body) else None


def parse_envelope(data: bytes | memoryview, *, max_bytes: int = ENVELOPE_MAX_BYTES) -> Envelope:
    root = safexml.parse(data, max_bytes=max_bytes)
    if root.tag == q(SOAP11, "Envelope"):
        raise InvalidPayload("SOAP 1.1 envelope; XTA 2 Version 3 requires SOAP 1.2")
    if root.tag != q(SOAP12, "Envelope"):
        raise InvalidPayload(f"not a SOAP 1.2 envelope: root element is {shown(root.tag, 200)}")
    headers = root.findall(q(SOAP12, "Header"))
    bodies = root.findall(q(SOAP12, "Body"))
    if len(bodies) != 1 or len(headers) > 1:
        raise InvalidPayload("SOAP envelope must have exactly one Body and at most one Header")
    return Envelope(root, headers[0] if headers else None, bodies[0])


@dataclass(frozen=True)
class Fault:
    soap_code: str | None
    subcode: str | None
    reason: str | None
    detail_element: str | None
    error_code: str | None


def _local(text: str | None) -> str | None:
    return text.strip().rsplit(":", 1)[-1] if text else None


def read_fault(env: Envelope) -> Fault | None:
    fault = env.body.find(q(SOAP12, "Fault"))
    if fault is None:
        return None
    detail = fault.find(q(SOAP12, "Detail"))
    first = detail[0] if detail is not None and len(detail) else None
    # XTA exceptions carry xta:errorCode with the unqualified children code and name.
    code_el = first.find(f"{q(XTA, 'errorCode')}/code") if first is not None else None
    return Fault(
        soap_code=_local(fault.findtext(f"{q(SOAP12, 'Code')}/{q(SOAP12, 'Value')}")),
        subcode=_local(fault.findtext(f"{q(SOAP12, 'Code')}/{q(SOAP12, 'Subcode')}/{q(SOAP12, 'Value')}")),
        reason=fault.findtext(f"{q(SOAP12, 'Reason')}/{q(SOAP12, 'Text')}"),
        detail_element=etree.QName(first).localname if first is not None else None,
        error_code=code_el.text.strip() if code_el is not None and code_el.text else None,
    )


def fault_envelope(*, soap_code: str, reason: str, relates_to: str | None, detail: Any | None = None,
                   subcode: str | None = None, action: str = FAULT_ACTION) -> bytes:
    """A SOAP 1.2 fault (``soap_code`` Sender or Receiver) with an optional detail element.

    ``action``: the XTA WSDL gives each fault the action of its operation; WS-Addressing faults
    use the WS-Addressing fault action, other SOAP faults the generic SOAP fault action.
    """
    code = element(q(SOAP12, "Code"), children=[element(q(SOAP12, "Value"), f"env:{soap_code}")])
    if subcode:
        code.append(element(q(SOAP12, "Subcode"), children=[element(q(SOAP12, "Value"), subcode)]))
    text = element(q(SOAP12, "Text"), reason, {"{http://www.w3.org/XML/1998/namespace}lang": "en"})
    fault = element(q(SOAP12, "Fault"), children=[code, element(q(SOAP12, "Reason"), children=[text])])
    if detail is not None:
        fault.append(element(q(SOAP12, "Detail"), children=[detail]))
    return envelope(action=action, message_id=new_message_id(), to=ANONYMOUS, body=[fault],
                    relates_to=relates_to or "http://www.w3.org/2005/08/addressing/unspecified")


def content_bytes(el: Any, parts: Mapping[str, Part]) -> memoryview:
    """The binary content of an ``xta:ContentType`` element in a message held in memory."""
    found = xop_content(el, parts)
    return found.data if isinstance(found, Part) else found


def xop_content(el: Any, parts: Mapping[str, T]) -> T | memoryview:
    """The content of an ``xta:ContentType`` element: the MIME part an XOP include names (in
    whatever form the caller keeps parts: in memory, or as blobs), or the inline base64 decoded."""
    include = el.find(q(XOP, "Include"))
    if include is not None:
        href = include.get("href") or ""
        part = parts.get(cid_key(href))
        if part is None:
            raise InvalidPayload(f"{etree.QName(el).localname}: XOP include refers to a missing MIME part")
        return part
    try:
        return memoryview(base64.b64decode(el.text or "", validate=False))
    except binascii.Error:
        raise InvalidPayload(f"{etree.QName(el).localname}: content is not valid base64") from None

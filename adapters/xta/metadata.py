"""OSCI ``MessageMetaData`` (namespace 2014/10) and ``PartyType``, to and from XML.

MessageMetaData travels as a SOAP header with sendMessage and getMessage and as the
entries of a status list (:func:`read_status_page`); it says who wrote the message, who
reads it, and what it is (Service, BusinessScenario, MessageType with the payload's schema).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from lxml import etree

from adapters.xta.errors import XtaServerError, shown
from adapters.xta.ns import OSCI, OSCIMETA, WSA, q
from adapters.xta.soap import Envelope, element
from gateway.errors import InvalidPayload

log = logging.getLogger("adapters.xta")


# Identifiers, codes and URIs in MessageMetaData are short; a longer text or attribute value
# is refused before it can reach a case, a log line or the database.
MAX_VALUE_CHARS = 1024
# One pass in C over every text and attribute value (lxml's per-element attribute access is
# quadratic in the number of attributes).
_TOO_LONG = etree.XPath("boolean(descendant::text()[string-length() > $n]"
                        " | descendant-or-self::*/@*[string-length() > $n])")


def _m(local: str) -> str:
    return q(OSCIMETA, local)


@dataclass(frozen=True)
class Party:
    """A PartyIdentifier: ``value`` is the address, e.g. the DVDV address ``wgb:150905350535``."""

    value: str
    type: str | None = "xoev"
    category: str | None = None
    name: str | None = None

    def identifier(self, tag: str) -> Any:
        """The PartyIdentifier element itself (value plus type, category, name; type is required)."""
        return element(tag, self.value, {"type": self.type or "xoev", "category": self.category or None,
                                         "name": self.name or None})

    def to_xml(self, tag: str) -> Any:
        """A PartyType element (``tag``) wrapping the Identifier."""
        return element(tag, children=[self.identifier(_m("Identifier"))])

    @classmethod
    def from_xml(cls, el: Any, where: str) -> Party:
        ident = el.find(_m("Identifier"))
        if ident is None or not (ident.text or "").strip():
            raise InvalidPayload(f"{where}: PartyType without an Identifier value")
        return cls(ident.text.strip(), ident.get("type"), ident.get("category"), ident.get("name"))

    def author_header(self) -> Any:
        """The SOAP header naming the caller on management and mailbox calls: ``oscimeta:Author``
        (the WSDL calls the message part "AuthorIdentifier")."""
        return self.to_xml(_m("Author"))


@dataclass(frozen=True)
class KeyCode:
    """A code from a code list (the XÖV code type): the children ``code`` and ``name`` are
    unqualified; ``listURI`` and ``listVersionID`` are attributes."""

    code: str
    list_uri: str | None = None
    list_version: str | None = None
    name: str | None = None

    def to_xml(self, tag: str, **extra: str) -> Any:
        children = [element("code", self.code)]
        if self.name:
            children.append(element("name", self.name))
        attrib = {"listURI": self.list_uri, "listVersionID": self.list_version, **extra}
        return element(tag, attrib=attrib, children=children)

    @classmethod
    def from_xml(cls, el: Any, where: str) -> KeyCode:
        code = (el.findtext("code") or "").strip()
        if not code:
            raise InvalidPayload(f"{where}: code missing")
        return cls(code, el.get("listURI"), el.get("listVersionID"), el.findtext("name"))


@dataclass(frozen=True)
class MessageMetaData:
    message_id: str
    author: Party
    reader: Party
    service: str
    business_scenario: KeyCode
    message_type: KeyCode
    payload_schema: str
    msg_size: int
    subject: str | None = None
    sender: Party | None = None
    origin: dt.datetime | None = None
    test_msg: bool = False
    in_reply_to: tuple[str, ...] = ()  # MessageIDs this message answers (MsgIdentification/In-Reply-To)

    def to_xml(self) -> Any:
        delivery = element(_m("DeliveryAttributes"))
        if self.origin:
            delivery.append(element(_m("Origin"), self.origin.isoformat()))
        originators = element(_m("Originators"), children=[self.author.to_xml(_m("Author"))])
        if self.sender:
            originators.append(self.sender.to_xml(_m("Sender")))
        qualifier = element(_m("Qualifier"))
        if self.subject:
            qualifier.append(element(_m("Subject"), self.subject))
        scenario = element(_m("BusinessScenario"))
        if self.business_scenario.list_uri:
            scenario.append(self.business_scenario.to_xml(_m("Defined")))
        else:
            scenario.append(element(_m("Undefined"), self.business_scenario.code))
        qualifier.extend([element(_m("Service"), self.service), scenario,
                          self.message_type.to_xml(_m("MessageType"), payloadSchema=self.payload_schema)])
        return element(_m("MessageMetaData"), attrib={"TestMsg": "true"} if self.test_msg else None, children=[
            delivery, originators,
            element(_m("Destinations"), children=[self.reader.to_xml(_m("Reader"))]),
            element(_m("MsgIdentification"), children=[element(q(WSA, "MessageID"), self.message_id),
                                                        *(element(_m("In-Reply-To"), i) for i in self.in_reply_to)]),
            qualifier, *([element(_m("MsgSize"), str(self.msg_size))] if self.msg_size > 0 else []),
        ])

    @classmethod
    def from_xml(cls, el: Any) -> MessageMetaData:
        if _TOO_LONG(el, n=MAX_VALUE_CHARS):
            raise InvalidPayload(f"MessageMetaData: a value longer than {MAX_VALUE_CHARS} characters")

        def need(path: str) -> Any:
            found = el.find(path, NS)
            if found is None:
                raise InvalidPayload(f"MessageMetaData: {path} missing")
            return found

        qualifier = need("m:Qualifier")
        message_type = need("m:Qualifier/m:MessageType")
        scenario = need("m:Qualifier/m:BusinessScenario")
        defined = scenario.find("m:Defined", NS)
        origin = el.findtext("m:DeliveryAttributes/m:Origin", namespaces=NS)
        size = el.findtext("m:MsgSize", namespaces=NS)
        sender = el.find("m:Originators/m:Sender", NS)
        try:
            return cls(
                message_id=(need("m:MsgIdentification/wsa:MessageID").text or "").strip(),
                author=Party.from_xml(need("m:Originators/m:Author"), "Author"),
                reader=Party.from_xml(need("m:Destinations/m:Reader"), "Reader"),
                service=(need("m:Qualifier/m:Service").text or "").strip(),
                business_scenario=(KeyCode.from_xml(defined, "BusinessScenario") if defined is not None
                                   else KeyCode((scenario.findtext("m:Undefined", namespaces=NS) or "").strip())),
                message_type=KeyCode.from_xml(message_type, "MessageType"),
                payload_schema=message_type.get("payloadSchema") or "",
                msg_size=int(size) if size else 0,
                subject=qualifier.findtext("m:Subject", namespaces=NS),
                sender=Party.from_xml(sender, "Sender") if sender is not None else None,
                origin=dt.datetime.fromisoformat(origin.strip()) if origin else None,
                test_msg=(el.get("TestMsg") or "false").strip() in ("true", "1"),
                in_reply_to=tuple((i.text or "").strip() for i in el.findall("m:MsgIdentification/m:In-Reply-To", NS)
                                  if (i.text or "").strip()),
            )
        except ValueError as exc:
            raise InvalidPayload(f"MessageMetaData: malformed number or date ({type(exc).__name__})") from None


NS = {"m": OSCIMETA, "wsa": WSA}


@dataclass(frozen=True)
class StatusPage:
    request_id: str
    entries: list[MessageMetaData]
    pending: int
    skipped: int = 0  # malformed entries, left out (and logged) so that they block nobody else


def read_status_page(env: Envelope) -> StatusPage:
    """A getStatusList/getNextStatusList response: the MsgBoxResponse header and the entries."""
    box = env.header.find(q(OSCI, "MsgBoxResponse")) if env.header is not None else None
    if box is None or not box.get("MsgBoxRequestID"):
        raise XtaServerError("status list response without a MsgBoxResponse header")
    pending = (box.findtext(q(OSCI, "ItemsPending")) or "0").strip()
    listed = env.payload.findall(q(OSCIMETA, "MessageMetaData")) if env.payload is not None else []
    short = env.payload.findall(q(OSCI, "MsgAttributes")) if env.payload is not None else []
    if short:
        # The short list form (no Reader, no MessageType): a server that ignored ListForm.
        log.warning("xta status list holds %d entries in the short form MsgAttributes; they are skipped "
                    "(the gateway asks for ListForm MessageMetaData)", len(short))
    entries = []
    for el in listed:
        try:
            entries.append(MessageMetaData.from_xml(el))
        except InvalidPayload as exc:
            message_id = el.findtext("m:MsgIdentification/wsa:MessageID", namespaces=NS)
            log.warning("xta status list entry %s skipped: %s", shown(message_id, 200), exc.detail)
    return StatusPage(box.get("MsgBoxRequestID"), entries, int(pending) if pending.isdigit() else 0,
                      skipped=len(listed) - len(entries) + len(short))

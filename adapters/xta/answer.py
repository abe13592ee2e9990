"""The gateway's own answer message (``schemas/xoev/rathaus-antwort-1.0.xsd``, namespace
``urn:rathaus-gateway:xoev:antwort:1.0``): what the xta reply channel sends when an incoming
format's answer type is the demo one. Not a published XÖV message (see the schema's comment);
its documents travel as XTA attachments named in ``dokument``."""

from __future__ import annotations

import datetime as dt

from lxml import etree

from gateway.ports import OutgoingReply

NAMESPACE = "urn:rathaus-gateway:xoev:antwort:1.0"
SCHEMA = "xoev/rathaus-antwort-1.0.xsd"
KINDS = {"decision": "bescheid", "request": "nachforderung", "notice": "mitteilung", "status": "statusmeldung"}


def _el(parent: etree._Element, name: str, text: str | None = None, **attrib: str) -> etree._Element:
    child = etree.SubElement(parent, f"{{{NAMESPACE}}}{name}", attrib)
    if text is not None:
        child.text = text
    return child


def answer_document(reply: OutgoingReply, sender_name: str, created: dt.datetime) -> bytes:
    case = reply.case
    root = etree.Element(f"{{{NAMESPACE}}}antwort", {"version": "1.0"}, nsmap={None: NAMESPACE})
    _el(root, "bezug", nachricht=case.source.id, aktenzeichen=case.reference, leistung=case.service.leika)
    _el(root, "erstellt", created.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"))
    _el(root, "absender", sender_name)
    _el(root, "art", KINDS[reply.kind])
    if reply.status:
        _el(root, "status", reply.status)
    _el(root, "titel", reply.title)
    _el(root, "text", reply.text)
    for document in reply.documents:
        _el(root, "dokument", datei=document.filename, groesse=str(document.size), sha512=document.sha512)
    data: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return data

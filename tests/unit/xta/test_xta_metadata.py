"""MessageMetaData and PartyType: XML round trip, schema validity, clear errors."""

from __future__ import annotations

import datetime as dt

import pytest
from lxml import etree

from adapters.xta import samples
from adapters.xta.metadata import KeyCode, MessageMetaData, Party
from adapters.xta.ns import OSCIMETA, SCHEMA_DIR, q
from gateway import safexml
from gateway.errors import InvalidPayload
from gateway.safexml_schemas import load_schema


def _sample(**changes: object) -> MessageMetaData:
    meta = samples.metadata(samples.WOHNGELD, "urn:de:xta:messageid:test:1", 1234, subject="Antrag")
    return MessageMetaData(**{**meta.__dict__, **changes})


def test_round_trip_through_xml_is_lossless_and_schema_valid() -> None:
    meta = _sample(sender=Party("wgb:150000000001", category="Behörde"), test_msg=True,
                   origin=dt.datetime(2025, 3, 1, 8, 0, tzinfo=dt.UTC))
    xml = meta.to_xml()
    load_schema(SCHEMA_DIR / "osci-transport-2014-10.xsd").validate(xml, label="MessageMetaData")
    assert MessageMetaData.from_xml(safexml.parse(etree.tostring(xml))) == meta


def test_structure_follows_the_published_order() -> None:
    children = [etree.QName(c).localname for c in _sample().to_xml()]
    assert children == ["DeliveryAttributes", "Originators", "Destinations", "MsgIdentification", "Qualifier",
                        "MsgSize"]
    qualifier = [etree.QName(c).localname for c in _sample().to_xml().find(q(OSCIMETA, "Qualifier"))]
    assert qualifier == ["Subject", "Service", "BusinessScenario", "MessageType"]


def test_business_scenario_without_list_is_undefined() -> None:
    xml = _sample(business_scenario=KeyCode("FREITEXT")).to_xml()
    assert xml.findtext(f"{{{OSCIMETA}}}Qualifier/{{{OSCIMETA}}}BusinessScenario/{{{OSCIMETA}}}Undefined") == \
        "FREITEXT"
    assert MessageMetaData.from_xml(xml).business_scenario == KeyCode("FREITEXT")


def test_party_identifier_carries_type_category_and_name() -> None:
    ident = Party("wgb:051110000000", "xoev", "Kommune", "Stadt X").to_xml(q(OSCIMETA, "Reader"))[0]
    assert (ident.text, ident.get("type"), ident.get("category"), ident.get("name")) == (
        "wgb:051110000000", "xoev", "Kommune", "Stadt X")


@pytest.mark.parametrize(("remove", "message"), [
    ("Qualifier", "m:Qualifier missing"),
    ("Originators", "m:Originators/m:Author missing"),
    ("MsgIdentification", "wsa:MessageID missing"),
])
def test_missing_parts_are_named(remove: str, message: str) -> None:
    xml = _sample().to_xml()
    xml.remove(xml.find(q(OSCIMETA, remove)))
    with pytest.raises(InvalidPayload, match=message):
        MessageMetaData.from_xml(xml)


def test_malformed_values_do_not_leak_content() -> None:
    xml = _sample().to_xml()
    xml.find(q(OSCIMETA, "MsgSize")).text = "Geheim"
    with pytest.raises(InvalidPayload) as caught:
        MessageMetaData.from_xml(xml)
    assert "Geheim" not in caught.value.detail


@pytest.mark.parametrize("changes", [{"service": "urn:x:" + "s" * 1100}, {"subject": "S" * 1100},
                                     {"author": Party("wgb:1", name="N" * 1100)}])
def test_overlong_values_are_refused(changes: dict[str, object]) -> None:
    xml = safexml.parse(etree.tostring(_sample(**changes).to_xml()))
    with pytest.raises(InvalidPayload, match="longer than 1024 characters"):
        MessageMetaData.from_xml(xml)


def test_codes_have_unqualified_code_and_name_children_and_list_attributes() -> None:
    xml = _sample(message_type=KeyCode("fim.S1", "urn:list", "1.0", "Antrag")).to_xml()
    message_type = xml.find(f"{q(OSCIMETA, 'Qualifier')}/{q(OSCIMETA, 'MessageType')}")
    assert [c.tag for c in message_type] == ["code", "name"]  # no namespace
    assert (message_type.get("listURI"), message_type.get("listVersionID")) == ("urn:list", "1.0")
    assert MessageMetaData.from_xml(xml).message_type == KeyCode("fim.S1", "urn:list", "1.0", "Antrag")
    # The capitalised, qualified form is not the published one and is not read.
    message_type[0].tag = q(OSCIMETA, "Code")
    with pytest.raises(InvalidPayload, match="code missing"):
        MessageMetaData.from_xml(xml)


def test_msg_size_is_left_out_when_not_positive() -> None:
    xml = _sample(msg_size=0).to_xml()
    assert xml.find(q(OSCIMETA, "MsgSize")) is None
    load_schema(SCHEMA_DIR / "osci-transport-2014-10.xsd").validate(xml, label="MessageMetaData")
    assert MessageMetaData.from_xml(xml).msg_size == 0


def test_party_identifier_type_is_always_written() -> None:
    ident = Party("wgb:1", type=None).to_xml(q(OSCIMETA, "Author"))[0]
    assert ident.get("type") == "xoev"
    assert samples.TOWN.author_header().tag == q(OSCIMETA, "Author")

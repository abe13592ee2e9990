"""XML sources: XPath with namespaces, repeated groups, XSD validation before mapping."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.errors import InvalidPayload, MappingFailed
from gateway.mapping import Mapping

from .mapping_helpers import Loader, values

XSD = """\
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:test:antrag"
           xmlns="urn:test:antrag" elementFormDefault="qualified">
  <xs:element name="antrag">
    <xs:complexType>
      <xs:sequence>
        <xs:element name="vorname" type="xs:string"/>
        <xs:element name="nachname" type="xs:string"/>
        <xs:element name="hund" maxOccurs="unbounded">
          <xs:complexType>
            <xs:sequence>
              <xs:element name="name" type="xs:string"/>
              <xs:element name="wurf" type="xs:string" minOccurs="0"/>
            </xs:sequence>
            <xs:attribute name="rasse" type="xs:string"/>
          </xs:complexType>
        </xs:element>
        <xs:element name="anzahl" type="xs:integer" minOccurs="0"/>
      </xs:sequence>
      <xs:attribute name="eingang" type="xs:dateTime"/>
    </xs:complexType>
  </xs:element>
</xs:schema>
"""
MAPPING = """\
id: xoev.test
version: 3
title: XML-Test
source:
  format: xoev:test
  media_type: application/xml
  namespaces: {t: "urn:test:antrag"}
  schema: xoev/test.xsd
codelists:
  rasse: {lab: Labrador, dac: Dackel}
applicant:
  kind: natural_person
  given_names: {path: /t:antrag/t:vorname, required: true}
  family_name: {path: /t:antrag/t:nachname, required: true}
submitted_at: {path: /t:antrag/@eingang, type: datetime}
fields:
  - key: hunde
    label: Hunde
    type: group
    path: /t:antrag/t:hund
    repeat: true
    fields:
      - {key: name, label: Name, path: ./t:name, required: true}
      - {key: rasse, label: Rasse, path: ./@rasse, codelist: rasse}
      - {key: wurf, label: Wurf, path: ./t:wurf, type: date}
  - {key: anzahl, label: Anzahl, path: /t:antrag/t:anzahl, type: integer}
  - {key: gezaehlt, label: Gezählt, path: count(/t:antrag/t:hund), type: integer}
"""
DOCUMENT = b"""<?xml version="1.0" encoding="UTF-8"?>
<antrag xmlns="urn:test:antrag" eingang="2026-11-21T10:00:00+01:00">
  <vorname>Erika</vorname><nachname>Mustermann</nachname>
  <hund rasse="lab"><name>Bello</name><wurf>03.05.2022</wurf></hund>
  <hund rasse="dac"><name>Luna</name></hund>
  <anzahl>2</anzahl>
</antrag>"""


@pytest.fixture
def xml_mapping(load: Loader) -> Mapping:
    return load(MAPPING, files={"schemas/xoev/test.xsd": XSD}).get("xoev.test")


def test_xml_document_is_mapped(xml_mapping: Mapping) -> None:
    result = xml_mapping.apply(DOCUMENT)
    assert (result.party.given_names, result.party.family_name) == ("Erika", "Mustermann")  # type: ignore[union-attr]
    assert result.submitted_at is not None and result.submitted_at.isoformat() == "2026-11-21T10:00:00+01:00"
    assert values(result.form) == {
        "hunde": [
            {"name": "Bello", "rasse": "lab", "wurf": dt.date(2022, 5, 3)},
            {"name": "Luna", "rasse": "dac", "wurf": None},
        ],
        "anzahl": 2,
        "gezaehlt": 2,
    }
    assert result.form[0].items is not None and result.form[0].items[1][1].code_label == "Dackel"


def test_xml_errors_name_the_repetition(xml_mapping: Mapping) -> None:
    broken = DOCUMENT.replace(b'<hund rasse="dac">', b'<hund rasse="pudel">')
    with pytest.raises(MappingFailed) as caught:
        xml_mapping.apply(broken)
    assert caught.value.extensions == {"field": "hunde.rasse", "path": "/t:antrag/t:hund[2]/./@rasse"}


def test_xsd_violation_is_invalid_payload_with_location_but_no_value(xml_mapping: Mapping) -> None:
    broken = DOCUMENT.replace(b"<anzahl>2</anzahl>", b"<anzahl>Geheim</anzahl>")
    with pytest.raises(InvalidPayload) as caught:
        xml_mapping.apply(broken)
    assert caught.value.extensions["location"] == "/antrag/anzahl"
    assert caught.value.detail.startswith("source document is not valid against its schema at /antrag/anzahl (line ")
    assert "Geheim" not in str(caught.value.to_problem())


def test_xsd_missing_element(xml_mapping: Mapping) -> None:
    with pytest.raises(InvalidPayload, match="not valid against its schema at /antrag"):
        xml_mapping.apply(DOCUMENT.replace(b"<vorname>Erika</vorname>", b""))


def test_unsafe_xml_is_refused_before_the_schema(xml_mapping: Mapping) -> None:
    evil = b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + DOCUMENT[38:]
    with pytest.raises(InvalidPayload, match="DOCTYPE"):
        xml_mapping.apply(evil)


def test_broken_xsd_is_a_configuration_error(load: Loader) -> None:
    from gateway.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match=r"^mappings/portal/m\.yaml:8: schema 'xoev/test\.xsd' is invalid"):
        load(
            MAPPING,
            files={
                "schemas/xoev/test.xsd": "<xs:schema xmlns:xs='http://www.w3.org/2001/XMLSchema'><xs:bogus/></xs:schema>"
            },
        )

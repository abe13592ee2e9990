"""Safe parsing of source documents, and compiled JSON Pointer / XPath accessors."""

from __future__ import annotations

from decimal import Decimal

import pytest
from lxml import etree

from gateway.errors import InvalidPayload
from gateway.mapping import parse_xml
from gateway.mapping.run.common import MISSING, ValueProblem
from gateway.mapping.run.documents import MAX_DOCUMENT_BYTES, MAX_XML_DEPTH, parse_json
from gateway.mapping.run.paths import JsonPath, XmlPath

NS = {"a": "urn:antrag", "p": "urn:person"}
XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<a:antrag xmlns:a="urn:antrag" xmlns:p="urn:person" version="2">
  <p:person><p:vorname>  Erika </p:vorname><p:nachname>Mustermann</p:nachname></p:person>
  <a:hund nr="1"><a:name>Bello</a:name><!-- Kommentar --></a:hund>
  <a:hund nr="2"><a:name>Luna</a:name></a:hund>
  <a:leer>   </a:leer>
</a:antrag>"""


# --- JSON -------------------------------------------------------------------------------------


def test_json_numbers_stay_exact() -> None:
    doc = parse_json(b'{"betrag": 0.1, "anzahl": 3}')
    assert doc == {"betrag": Decimal("0.1"), "anzahl": 3}
    assert isinstance(doc["betrag"], Decimal)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"a": 1, "a": 2}', "key 'a' twice"),
        (b'{"a": NaN}', "number that is not allowed"),
        (b'{"a": -Infinity}', "number that is not allowed"),
        (b"[1, 2]", "must be an object"),
        (b'"text"', "must be an object"),
        (b'{"a": 1', "not well-formed"),
        (b'{"name": "\xff\xfe M\xfcller"}', "not valid UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nesting too deep"),
    ],
)
def test_json_refusals(data: bytes, message: str) -> None:
    with pytest.raises(InvalidPayload, match=message):
        parse_json(data)


def test_json_syntax_error_names_position_not_content() -> None:
    with pytest.raises(InvalidPayload) as caught:
        parse_json(b'{"name": "Geheim",\n "x": }')
    assert caught.value.extensions["location"] == "line 2 column 7"
    assert "Geheim" not in caught.value.detail


def test_json_size_cap() -> None:
    with pytest.raises(InvalidPayload, match="larger than"):
        parse_json(b'{"a": "' + b"x" * MAX_DOCUMENT_BYTES + b'"}')


def test_json_pointer_walks_objects_and_arrays() -> None:
    doc = {"a/b": {"~x": [10, {"c": "  wert  "}]}, "leer": "", "nichts": None}
    assert JsonPath("/a~1b/~0x/0").scalar(doc) == 10
    assert JsonPath("/a~1b/~0x/1/c").scalar(doc) == "wert"  # stripped
    assert JsonPath("/a~1b/~0x/2").scalar(doc) is MISSING  # out of range
    assert JsonPath("/a~1b/~0x/01").scalar(doc) is MISSING  # no leading zeros in RFC 6901
    assert JsonPath("/fehlt/tiefer").scalar(doc) is MISSING
    assert JsonPath("/leer").scalar(doc) is MISSING
    assert JsonPath("/nichts").scalar(doc) is MISSING
    assert JsonPath("").node(doc) is doc  # the root: how array-of-strings groups read their element


def test_json_pointer_into_a_scalar_is_a_shape_problem() -> None:
    with pytest.raises(ValueProblem, match="structure does not match"):
        JsonPath("/name/vorname").scalar({"name": "Erika"})


def test_json_pointer_scalar_refuses_containers() -> None:
    with pytest.raises(ValueProblem, match="single value"):
        JsonPath("/a").scalar({"a": {"b": 1}})


def test_json_pointer_nodes_and_presence() -> None:
    doc = {"liste": [{"x": 1}, None, {"x": 2}], "objekt": {"x": 1}, "leer": {}, "blank": " "}
    assert JsonPath("/liste").nodes(doc) == [{"x": 1}, {"x": 2}]
    assert JsonPath("/fehlt").nodes(doc) == []
    with pytest.raises(ValueProblem, match="expected an array"):
        JsonPath("/objekt").nodes(doc)
    assert JsonPath("/objekt").present(doc)
    assert not JsonPath("/leer").present(doc)
    assert not JsonPath("/blank").present(doc)
    assert not JsonPath("/fehlt").present(doc)


@pytest.mark.parametrize("bad", ["name", "~2", 5])
def test_invalid_json_pointers(bad: object) -> None:
    with pytest.raises(ValueError):
        JsonPath(bad)  # type: ignore[arg-type]


# --- XML --------------------------------------------------------------------------------------


def test_xpath_with_namespaces() -> None:
    root = parse_xml(XML)
    assert XmlPath("/a:antrag/p:person/p:vorname", NS).scalar(root) == "Erika"
    assert (
        XmlPath("p:person", NS).scalar(root) == "Erika Mustermann"
    )  # string value of an element, stripped at the ends
    assert XmlPath("@version", NS).scalar(root) == "2"
    assert XmlPath("count(a:hund)", NS).scalar(root) == 2.0
    assert XmlPath("a:hund[@nr='2']/a:name", NS).scalar(root) == "Luna"
    assert XmlPath("a:leer", NS).scalar(root) is MISSING
    assert XmlPath("a:fehlt", NS).scalar(root) is MISSING
    assert XmlPath("number(a:fehlt)", NS).scalar(root) is MISSING
    assert XmlPath("boolean(a:hund)", NS).scalar(root) is True


def test_xpath_comments_are_not_text() -> None:
    root = parse_xml(XML)
    assert XmlPath("a:hund[1]", NS).scalar(root) == "Bello"


def test_xpath_several_nodes_for_one_value_is_an_error() -> None:
    with pytest.raises(ValueProblem, match="expected one node, found 2"):
        XmlPath("a:hund/a:name", NS).scalar(parse_xml(XML))


def test_xpath_relative_paths_inside_repeated_elements() -> None:
    root = parse_xml(XML)
    hunde = XmlPath("a:hund", NS).nodes(root)
    assert [XmlPath("./a:name", NS).scalar(h) for h in hunde] == ["Bello", "Luna"]
    assert XmlPath("a:hund", NS).item_location("", 1) == "a:hund[2]"
    with pytest.raises(ValueProblem, match="expected one element, found 2"):
        XmlPath("a:hund", NS).node(root)
    with pytest.raises(ValueProblem, match="expected elements"):
        XmlPath("@version", NS).nodes(root)


def test_xpath_presence() -> None:
    root = parse_xml(XML)
    assert XmlPath("p:person", NS).present(root)
    assert not XmlPath("a:leer", NS).present(root)
    assert not XmlPath("a:fehlt", NS).present(root)


def test_xpath_is_compiled_and_checked_once() -> None:
    with pytest.raises(ValueError, match="Undefined namespace prefix"):
        XmlPath("x:antrag", NS)
    with pytest.raises(ValueError, match="invalid XPath"):
        XmlPath("a:antrag[", NS)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<lolz>&lol2;</lolz>"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><foo>&xxe;</foo>"""
EXTERNAL_DTD = b"""<?xml version="1.0"?><!DOCTYPE foo SYSTEM "http://example.invalid/x.dtd"><foo/>"""


@pytest.mark.parametrize("data", [BILLION_LAUGHS, XXE, EXTERNAL_DTD, BILLION_LAUGHS.decode().encode("utf-16")])
def test_xml_with_doctype_is_refused(data: bytes) -> None:
    with pytest.raises(InvalidPayload, match="DOCTYPE"):
        parse_xml(data)


def test_xml_depth_cap() -> None:
    deep = b"<a>" * (MAX_XML_DEPTH + 1) + b"</a>" * (MAX_XML_DEPTH + 1)
    with pytest.raises(InvalidPayload, match="nested too deeply"):
        parse_xml(deep)
    ok = b"<a>" * MAX_XML_DEPTH + b"</a>" * MAX_XML_DEPTH
    assert parse_xml(ok).tag == "a"


def test_xml_size_cap() -> None:
    with pytest.raises(InvalidPayload, match="too large"):
        parse_xml(b"<a>" + b"x" * MAX_DOCUMENT_BYTES + b"</a>")


def test_xml_not_well_formed_names_line_not_content() -> None:
    with pytest.raises(InvalidPayload) as caught:
        parse_xml(b"<a>\n<name>Geheimnis</nam>\n</a>")
    assert caught.value.extensions["location"] == "line 2, column 21"
    assert "Geheimnis" not in caught.value.detail


def test_xml_processing_instructions_are_removed() -> None:
    root = parse_xml(b"<a><?evil payload?><b>x</b></a>")
    assert [child.tag for child in root] == ["b"]
    assert not isinstance(root[0], etree._ProcessingInstruction)

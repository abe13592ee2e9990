"""gateway.safexml_schemas: validation decides in linear work, names the first violation by path
and line without its value, and never runs away, however many violations a document holds."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway import safexml
from gateway.errors import ConfigurationError, InvalidPayload
from gateway.safexml_schemas import LOCATE_MAX_ERRORS, XmlSchema, load_schema

SECRET = "TOP-SECRET-4711-do-not-leak"


def _xsd(body: str) -> str:
    return ('<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:t" '
            f'xmlns="urn:t" elementFormDefault="qualified">{body}</xs:schema>')


_TYPED_XSD = _xsd('<xs:element name="r"><xs:complexType><xs:sequence>'
                  '<xs:element name="d" type="xs:date" minOccurs="0" maxOccurs="unbounded"/>'
                  '<xs:element name="i" type="xs:integer" minOccurs="0"/>'
                  '<xs:element name="e" minOccurs="0"><xs:simpleType><xs:restriction base="xs:string">'
                  '<xs:enumeration value="A"/></xs:restriction></xs:simpleType></xs:element>'
                  '</xs:sequence><xs:attribute name="k" type="xs:integer"/></xs:complexType></xs:element>')


@pytest.fixture
def typed(tmp_path: Path) -> XmlSchema:
    path = tmp_path / "t.xsd"
    path.write_text(_TYPED_XSD)
    return XmlSchema(path)


def _refusal(schema: XmlSchema, document: bytes, limits: safexml.XmlLimits = safexml.DEFAULT_LIMITS
             ) -> InvalidPayload:
    root = safexml.parse(document, limits=limits)
    with pytest.raises(InvalidPayload) as caught:
        schema.validate(root, label="payload", data=document)
    return caught.value


def test_valid_document_passes_with_and_without_its_bytes(typed: XmlSchema) -> None:
    document = b"<r xmlns='urn:t' k='3'><d>2025-01-01</d><i>7</i><e>A</e></r>"
    root = safexml.parse(document)
    typed.validate(root, label="payload", data=document)
    typed.validate(root, label="payload")


def test_violation_is_named_by_path_and_line_but_not_by_value(typed: XmlSchema) -> None:
    error = _refusal(typed, b'<r xmlns="urn:t">\n<d>2025-01-01</d>\n<d>Mustermann</d></r>')
    assert error.detail == ("payload is not valid against its schema at /r/d[2] (line 3): "
                            "value is not valid for its type")
    assert error.extensions == {"location": "/r/d[2]", "line": 3}
    assert "Mustermann" not in str(error.to_problem())


def test_prefixed_documents_get_the_same_readable_path(typed: XmlSchema) -> None:
    error = _refusal(typed, b'<p:r xmlns:p="urn:t">\n<p:i>zwei</p:i></p:r>')
    assert error.extensions == {"location": "/r/i", "line": 2}


@pytest.mark.parametrize("document", [
    "<r xmlns='urn:t'><d>Erika O'Brien</d></r>",       # an apostrophe inside libxml2's quotes
    "<r xmlns='urn:t'><i>D'Angelo \"Dee\"</i></r>",     # both quote characters
    "<r xmlns='urn:t'><e>{urn:t}Mustermann</e></r>",   # looks like an element name in Clark notation
    "<r xmlns='urn:t' k='Erika Mustermann'/>",           # an attribute value
    "<r xmlns='urn:t'><i>  Erika\n  Mustermann </i></r>",  # whitespace the validator may collapse
])
def test_error_never_repeats_a_value(typed: XmlSchema, document: str) -> None:
    error = _refusal(typed, document.encode())
    problem = str(error.to_problem())
    for fragment in ("Brien", "Angelo", "Dee", "Mustermann", "Erika"):
        assert fragment not in problem
    assert error.detail.startswith("payload is not valid against its schema at /r")


def test_error_names_elements_and_attributes(typed: XmlSchema) -> None:
    unexpected = _refusal(typed, b"<r xmlns='urn:t'><x>Geheim</x></r>")
    assert unexpected.detail == "payload is not valid against its schema at /r/x (line 1): element not expected here"
    attribute = _refusal(typed, b"<r xmlns='urn:t' k='Geheim'/>")
    assert attribute.extensions["location"] == "/r/@k" and "Geheim" not in attribute.detail
    root = _refusal(typed, b"<q xmlns='urn:t'/>")
    assert root.detail.endswith("the root element is not declared by the schema")


def test_location_of_long_names_is_shortened(tmp_path: Path) -> None:
    path = tmp_path / "lax.xsd"
    path.write_text(_xsd('<xs:element name="d" type="xs:date"/><xs:element name="r"><xs:complexType>'
                         '<xs:sequence><xs:any processContents="lax"/></xs:sequence></xs:complexType></xs:element>'))
    name = "n" * 40_000
    document = f"<r xmlns='urn:t'>{f'<{name}>' * 20}<d>x</d>{f'</{name}>' * 20}</r>".encode()
    error = _refusal(XmlSchema(path), document)
    location = error.extensions["location"]
    assert location.endswith("/" + "n" * 100 + "/d") and len(location) == 501
    assert len(error.detail) < 700


def test_many_invalid_siblings_are_refused_in_linear_time(typed: XmlSchema) -> None:
    # lxml's tree validation needs ~7.6 s for these (an XPath per error, over all preceding siblings)
    document = b"<r xmlns='urn:t'>" + b"<d>x</d>" * 40_000 + b"</r>"
    started = time.process_time()
    error = _refusal(typed, document)
    assert time.process_time() - started < 2.0
    assert error.detail == ("payload is not valid against its schema at element 'd': value is not valid for its "
                            "type (first of 40000 violations)")
    assert error.extensions == {"location": "d"}


def test_up_to_the_locate_limit_the_first_violation_is_located(typed: XmlSchema) -> None:
    document = (b"<r xmlns='urn:t'>\n" + b"<d>2025-01-01</d>\n" * 30_000
                + b"<d>x</d>\n" * LOCATE_MAX_ERRORS + b"</r>")
    started = time.process_time()
    error = _refusal(typed, document)
    assert time.process_time() - started < 2.0
    assert error.extensions == {"location": "/r/d[30001]", "line": 30_002}


def test_unknown_attributes_by_the_hundred_thousand_stay_cheap_with_the_caps_lifted(typed: XmlSchema) -> None:
    # The quadratic case of the issue: xmlschema formatted the whole attribute map once per attribute.
    document = ("<r xmlns='urn:t' " + " ".join(f'a{i}="x"' for i in range(100_000)) + "/>").encode()
    lifted = safexml.DEFAULT_LIMITS.replace(max_attributes_per_element=200_000)
    started = time.process_time()
    error = _refusal(typed, document, lifted)
    assert time.process_time() - started < 2.0
    assert error.detail == ("payload is not valid against its schema at element 'r', attribute 'a0': attribute "
                            "not allowed (first of 100000 violations)")


def test_many_namespaces_in_scope_stay_cheap(typed: XmlSchema) -> None:
    # xmlschema rebuilt the in-scope namespace map per element: 4,000 x 4,000 took ~10 s
    declarations = " ".join(f'xmlns:n{i}="urn:n:{i}"' for i in range(4_000))
    document = f"<r xmlns='urn:t' {declarations}>".encode() + b"<d>2025-01-01</d>" * 4_000 + b"<d>x</d></r>"
    lifted = safexml.DEFAULT_LIMITS.replace(max_namespaces_per_element=4_001)
    started = time.process_time()
    error = _refusal(typed, document, lifted)
    assert time.process_time() - started < 2.0
    assert error.extensions["location"] == "/r/d[4001]"


def test_schema_with_a_dtd_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    path = tmp_path / "evil.xsd"
    path.write_text(f'<!DOCTYPE xs:schema [<!ENTITY x SYSTEM "file://{secret}">]>'
                    + _xsd('<xs:element name="r" type="xs:string" fixed="&x;"/>'))
    with pytest.raises(InvalidPayload, match="DOCTYPE") as caught:
        XmlSchema(path)
    assert SECRET not in str(caught.value)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(5)
    sock.setblocking(False)
    yield sock
    sock.close()


@pytest.mark.parametrize("location", ["http://127.0.0.1:{port}/o.xsd", "file:///etc/passwd", "/etc/passwd",
                                      "../outside.xsd", "missing.xsd"])
def test_schema_references_stay_in_the_schema_folder(tmp_path: Path, listener: socket.socket,
                                                     location: str) -> None:
    folder = tmp_path / "schemas"
    folder.mkdir()
    (tmp_path / "outside.xsd").write_text(_xsd('<xs:element name="o" type="xs:string"/>'))
    path = folder / "import.xsd"
    target = location.format(port=listener.getsockname()[1])
    path.write_text(_xsd(f'<xs:import namespace="urn:o" schemaLocation="{target}"/>'
                         '<xs:element name="r" type="xs:string"/>'))
    with pytest.raises(ConfigurationError, match=r"import\.xsd"):
        XmlSchema(path)
    readable, _, _ = select.select([listener], [], [], 0.05)
    assert not readable, "loading the schema opened a network connection"


def test_schema_references_in_the_folder_are_followed(tmp_path: Path) -> None:
    other = _xsd('<xs:element name="o" type="xs:string"/>').replace('"urn:t"', '"urn:o"')
    (tmp_path / "other.xsd").write_text(other)
    path = tmp_path / "main.xsd"
    path.write_text(_xsd('<xs:import namespace="urn:o" schemaLocation="other.xsd"/>'
                         '<xs:element name="r"><xs:complexType><xs:sequence><xs:element ref="o:o" '
                         'xmlns:o="urn:o"/></xs:sequence></xs:complexType></xs:element>'))
    schema = XmlSchema(path)
    schema.validate(safexml.parse(b"<r xmlns='urn:t'><o xmlns='urn:o'>x</o></r>"), label="payload")


def test_schemas_are_loaded_once_per_file(tmp_path: Path) -> None:
    path = tmp_path / "t.xsd"
    path.write_text(_TYPED_XSD)
    assert load_schema(path) is load_schema(path)

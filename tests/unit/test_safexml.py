"""gateway.safexml: every classic XML attack is refused quickly, and nothing is loaded."""

from __future__ import annotations

import io
import select
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, cast

import pytest
from lxml import etree

from gateway import safexml
from gateway.errors import InvalidPayload

SECRET = "TOP-SECRET-4711-do-not-leak"


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(SECRET)
    return path


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A TCP port on 127.0.0.1 that records whether anybody connected."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(5)
    sock.setblocking(False)
    yield sock
    sock.close()


def _connected(sock: socket.socket) -> bool:
    # A connect() completes in the kernel (backlog) before the parser returns: no long wait needed.
    readable, _, _ = select.select([sock], [], [], 0.05)
    return bool(readable)


def _billion_laughs() -> bytes:
    decl = ['<!ENTITY l0 "lol">']
    decl += [f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, 10)]
    return f'<?xml version="1.0"?><!DOCTYPE r [{"".join(decl)}]><r>&l9;</r>'.encode()


def _quadratic() -> bytes:
    big = "x" * 50_000
    return f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "{big}">]><r>{"&a;" * 50_000}</r>'.encode()


def _attacks(secret: Path, port: int) -> dict[str, bytes]:
    return {
        "xxe-local-file": f'<!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]><r>&x;</r>'.encode(),
        "xxe-network": f'<!DOCTYPE r [<!ENTITY x SYSTEM "http://127.0.0.1:{port}/x">]><r>&x;</r>'.encode(),
        "xxe-parameter-entity": (f'<!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:{port}/p"> %p;]>'
                                 "<r/>").encode(),
        "external-dtd": f'<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://127.0.0.1:{port}/r.dtd"><r/>'.encode(),
        "external-dtd-file": f'<!DOCTYPE r SYSTEM "file://{secret}"><r/>'.encode(),
        "billion-laughs": _billion_laughs(),
        "quadratic-blowup": _quadratic(),
        "doctype-after-comment": b'<?xml version="1.0"?><!-- x --><?pi x?><!DOCTYPE r><r/>',
    }


def _parse_stream(data: bytes) -> None:
    for _ in safexml.iterparse(io.BytesIO(data)):
        pass


PARSERS: dict[str, Callable[[bytes], object]] = {"parse": safexml.parse, "iterparse": _parse_stream}


@pytest.mark.parametrize("parser", sorted(PARSERS))
@pytest.mark.parametrize("attack", sorted(_attacks(Path("/x"), 1)))
def test_attack_is_refused_quickly_and_loads_nothing(
    attack: str, parser: str, secret_file: Path, listener: socket.socket
) -> None:
    data = _attacks(secret_file, listener.getsockname()[1])[attack]
    started = time.perf_counter()
    with pytest.raises(InvalidPayload) as caught:
        PARSERS[parser](data)
    assert time.perf_counter() - started < 1.0
    assert "DOCTYPE" in caught.value.detail
    assert SECRET not in str(caught.value.to_problem())
    assert not _connected(listener), "the parser opened a network connection"


def test_doctype_hidden_by_utf16_is_caught_after_parsing(secret_file: Path) -> None:
    data = f'<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret_file}">]><r>&x;</r>'
    with pytest.raises(InvalidPayload, match="DOCTYPE"):
        safexml.parse(data.encode("utf-16"))


def test_undeclared_entity_is_refused() -> None:
    with pytest.raises(InvalidPayload, match="entit"):
        safexml.parse(b"<r>&unknown;</r>")


@pytest.mark.parametrize("parser", sorted(PARSERS))
def test_oversized_document_is_refused_before_parsing(parser: str) -> None:
    data = b"<r>" + b"<a>x</a>" * 200_000 + b"</r>"
    started = time.perf_counter()
    with pytest.raises(InvalidPayload, match="too large"):
        if parser == "parse":
            safexml.parse(data, max_bytes=1_000_000)
        else:
            for _ in safexml.iterparse(io.BytesIO(data), max_bytes=1_000_000):
                pass
    assert time.perf_counter() - started < 1.0


def test_oversized_stream_of_unknown_size_is_cut_off_while_reading() -> None:
    class Pipe(io.RawIOBase):  # not seekable: the size shows only while reading
        chunks = iter([b"<r>", *([b"<a>" + b"x" * 65_000 + b"</a>"] * 50)])

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            return next(self.chunks, b"")

    started = time.perf_counter()
    with pytest.raises(InvalidPayload, match="too large"):
        for _ in safexml.iterparse(cast(IO[bytes], Pipe()), max_bytes=1_000_000):
            pass
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("depth", [100_000, 300, 40])
@pytest.mark.parametrize("parser", sorted(PARSERS))
def test_deeply_nested_document_is_refused(depth: int, parser: str) -> None:
    data = b"<a>" * depth + b"</a>" * depth
    started = time.perf_counter()
    with pytest.raises(InvalidPayload, match="nested too deeply"):
        if parser == "parse":
            safexml.parse(data, max_depth=32)
        else:
            for _ in safexml.iterparse(io.BytesIO(data), max_depth=32):
                pass
    assert time.perf_counter() - started < 1.0


def test_depth_limit_is_exact() -> None:
    safexml.parse(b"<a>" * 32 + b"</a>" * 32, max_depth=32)
    with pytest.raises(InvalidPayload):
        safexml.parse(b"<a>" * 33 + b"</a>" * 33, max_depth=32)


def test_malformed_xml_gives_a_clear_error_without_quoting_the_document() -> None:
    with pytest.raises(InvalidPayload, match=r"malformed XML \(line 1, column"):
        safexml.parse(b"<a><b></a>")
    with pytest.raises(InvalidPayload) as caught:
        safexml.parse('<?xml version="1.0" encoding="UTF-8"?>\n<name>Müller-Geheim</name>'.encode("latin-1"))
    assert "line 2" in caught.value.detail and "Geheim" not in str(caught.value.to_problem())


def test_ordinary_documents_parse_from_bytes_and_memoryview() -> None:
    data = b'<?xml version="1.0"?><!-- c --><x:r xmlns:x="urn:x"><x:a k="1">t</x:a></x:r>'
    for source in (data, memoryview(data)):
        root = safexml.parse(source)
        assert root.tag == "{urn:x}r"
        assert root[0].text == "t"


def test_iterparse_streams_matching_elements() -> None:
    data = b"<r>" + b"<item>1</item>" * 1000 + b"</r>"
    seen = 0
    for element in safexml.iterparse(io.BytesIO(data), tag="item"):
        seen += 1
        element.clear()
    assert seen == 1000


def test_both_parsers_drop_processing_instructions() -> None:
    data = b'<?xml version="1.0"?><?xml-stylesheet href="x.xsl"?><r><?steer x?><a>t</a></r>'
    root = safexml.parse(data)
    assert [child.tag for child in root] == ["a"] and root.getprevious() is None
    [streamed] = list(safexml.iterparse(io.BytesIO(data), tag="r"))
    assert [child.tag for child in streamed] == ["a"] and streamed.getprevious() is None


def test_zeep_settings_forbid_dtds_entities_and_huge_trees() -> None:
    settings = safexml.zeep_settings()
    assert settings.forbid_dtd and settings.forbid_entities and settings.forbid_external
    assert settings.strict and not settings.xml_huge_tree


def _xsd(body: str) -> str:
    return ('<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:t" '
            f'xmlns="urn:t" elementFormDefault="qualified">{body}</xs:schema>')


def test_xmlschema_loader_refuses_a_schema_with_a_dtd(tmp_path: Path, secret_file: Path) -> None:
    path = tmp_path / "evil.xsd"
    path.write_text(f'<!DOCTYPE xs:schema [<!ENTITY x SYSTEM "file://{secret_file}">]>'
                    + _xsd('<xs:element name="r" type="xs:string" fixed="&x;"/>'))
    with pytest.raises(Exception) as caught:
        safexml.load_xmlschema(path)
    assert SECRET not in str(caught.value)
    with pytest.raises(InvalidPayload, match="DOCTYPE"):
        safexml.load_fast_schema(path)


def test_xmlschema_loader_refuses_imports_outside_its_folder(tmp_path: Path, listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    path = tmp_path / "import.xsd"
    path.write_text(_xsd(f'<xs:import namespace="urn:o" schemaLocation="http://127.0.0.1:{port}/o.xsd"/>'
                         '<xs:element name="r" type="xs:string"/>'))
    with pytest.raises(Exception, match=r"(?i)block access"):
        safexml.load_xmlschema(path)
    assert not _connected(listener)


def test_schema_error_names_the_location_but_not_the_value(tmp_path: Path) -> None:
    path = tmp_path / "t.xsd"
    path.write_text(_xsd('<xs:element name="r"><xs:complexType><xs:sequence>'
                         '<xs:element name="d" type="xs:date"/></xs:sequence></xs:complexType></xs:element>'))
    root = safexml.parse(b'<r xmlns="urn:t">\n<d>Mustermann</d></r>')
    fast = safexml.load_fast_schema(path)
    assert not fast.validate(root)
    error = safexml.schema_error(safexml.load_xmlschema(path), root, "payload")
    assert "/r/d" in error.detail and "line 2" in error.detail
    assert "Mustermann" not in str(error.to_problem())
    assert error.extensions["location"] == "/r/d"
    assert etree.iselement(root)


_TYPED_XSD = _xsd('<xs:element name="r"><xs:complexType><xs:sequence>'
                  '<xs:element name="d" type="xs:date" minOccurs="0"/>'
                  '<xs:element name="i" type="xs:integer" minOccurs="0"/>'
                  '<xs:element name="e" minOccurs="0"><xs:simpleType><xs:restriction base="xs:string">'
                  '<xs:enumeration value="A"/></xs:restriction></xs:simpleType></xs:element>'
                  '</xs:sequence><xs:attribute name="k" type="xs:integer"/></xs:complexType></xs:element>')


@pytest.mark.parametrize("document", [
    "<r xmlns='urn:t'><d>Erika O'Brien</d></r>",       # repr() quotes a text with an apostrophe in "..."
    "<r xmlns='urn:t'><i>D'Angelo \"Dee\"</i></r>",     # both quote characters: '...' with escapes
    "<r xmlns='urn:t'><e>{urn:t}Mustermann</e></r>",   # looks like an element name in Clark notation
    "<r xmlns='urn:t' k='Erika Mustermann'/>",           # an attribute value
    "<r xmlns='urn:t'><i>  Erika\n  Mustermann </i></r>",  # whitespace the validator may collapse
])
def test_schema_error_never_repeats_a_value(tmp_path: Path, document: str) -> None:
    path = tmp_path / "t.xsd"
    path.write_text(_TYPED_XSD)
    root = safexml.parse(document.encode())
    error = safexml.schema_error(safexml.load_xmlschema(path), root, "payload")
    problem = str(error.to_problem())
    for fragment in ("Brien", "Angelo", "Dee", "Mustermann", "Erika"):
        assert fragment not in problem
    assert "not valid against its schema at /r" in error.detail


def test_schema_error_keeps_element_names(tmp_path: Path) -> None:
    path = tmp_path / "t.xsd"
    path.write_text(_TYPED_XSD)
    root = safexml.parse(b"<r xmlns='urn:t'><x>Geheim</x></r>")
    error = safexml.schema_error(safexml.load_xmlschema(path), root, "payload")
    assert "'{urn:t}x'" in error.detail and "Geheim" not in error.detail


def test_schema_helpers_module_imports_on_its_own() -> None:
    import importlib
    import subprocess
    import sys

    code = "import gateway.safexml_schemas as s, gateway.safexml as x; assert x.load_fast_schema is s.load_fast_schema"
    subprocess.run([sys.executable, "-c", code], check=True)
    assert importlib.import_module("gateway.safexml").schema_error is safexml.schema_error

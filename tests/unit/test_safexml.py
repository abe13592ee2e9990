"""gateway.safexml: every classic XML attack is refused quickly, and nothing is loaded."""

from __future__ import annotations

import ast
import dataclasses
import io
import json
import select
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, cast

import pytest

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
    started = time.process_time()
    with pytest.raises(InvalidPayload) as caught:
        PARSERS[parser](data)
    assert time.process_time() - started < 1.0
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
    started = time.process_time()
    with pytest.raises(InvalidPayload, match="too large"):
        if parser == "parse":
            safexml.parse(data, max_bytes=1_000_000)
        else:
            for _ in safexml.iterparse(io.BytesIO(data), max_bytes=1_000_000):
                pass
    assert time.process_time() - started < 1.0


def test_oversized_stream_of_unknown_size_is_cut_off_while_reading() -> None:
    class Pipe(io.RawIOBase):  # not seekable: the size shows only while reading
        chunks = iter([b"<r>", *([b"<a>" + b"x" * 65_000 + b"</a>"] * 50)])

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            return next(self.chunks, b"")

    started = time.process_time()
    with pytest.raises(InvalidPayload, match="too large"):
        for _ in safexml.iterparse(cast(IO[bytes], Pipe()), max_bytes=1_000_000):
            pass
    assert time.process_time() - started < 1.0


@pytest.mark.parametrize("depth", [100_000, 300, 40])
@pytest.mark.parametrize("parser", sorted(PARSERS))
def test_deeply_nested_document_is_refused(depth: int, parser: str) -> None:
    data = b"<a>" * depth + b"</a>" * depth
    started = time.process_time()
    with pytest.raises(InvalidPayload, match="nested too deeply"):
        if parser == "parse":
            safexml.parse(data, max_depth=32)
        else:
            for _ in safexml.iterparse(io.BytesIO(data), max_depth=32):
                pass
    assert time.process_time() - started < 1.0


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



# --- caps on what a document may contain (XmlLimits), each enforced while parsing -----------------

def _both(data: bytes, limits: safexml.XmlLimits = safexml.DEFAULT_LIMITS) -> list[InvalidPayload]:
    """The error each parser gives (every case below must be refused by both)."""
    errors = []
    for parser in ("parse", "iterparse"):
        with pytest.raises(InvalidPayload) as caught:
            if parser == "parse":
                safexml.parse(data, limits=limits)
            else:
                for _ in safexml.iterparse(io.BytesIO(data), limits=limits):
                    pass
        errors.append(caught.value)
    return errors


def _attributes(count: int, value: str = "x") -> bytes:
    return ("<r " + " ".join(f'a{i}="{value}"' for i in range(count)) + "/>").encode()


def test_hundred_thousand_attributes_on_one_element_are_refused_quickly() -> None:
    data = _attributes(100_000)
    assert 1_000_000 < len(data) < 1_200_000
    started = time.process_time()
    errors = _both(data)
    assert time.process_time() - started < 2.0
    for error in errors:
        assert error.detail == "XML element at line 1 has 100000 attributes; at most 256 are accepted"


def test_attributes_per_element_cap_is_exact() -> None:
    limits = safexml.XmlLimits(max_attributes_per_element=10)
    safexml.parse(_attributes(10), limits=limits)
    for error in _both(_attributes(11), limits):
        assert "has 11 attributes; at most 10" in error.detail


def test_total_attributes_cap() -> None:
    limits = safexml.XmlLimits(max_attributes=100)
    document = b"<r>" + b'<e a="1" b="2" c="3" d="4"/>\n' * 25 + b"</r>"
    safexml.parse(document, limits=limits)
    for error in _both(document.replace(b"</r>", b'<e a="1"/></r>'), limits):
        assert error.detail == "XML document with more than 100 attributes (line 26)"


def test_a_million_small_elements_are_refused_quickly() -> None:
    data = b"<r>" + b"<x/>" * 1_000_000 + b"</r>"
    started = time.process_time()
    errors = _both(data)
    assert time.process_time() - started < 2.0 * 2  # two parsers
    for error in errors:
        assert error.detail.startswith("XML document with more than 200000 elements")


def test_element_cap_is_exact_and_names_the_line() -> None:
    limits = safexml.XmlLimits(max_elements=1000)
    document = b"<r>\n" + b"<x/>\n" * 999 + b"</r>"
    safexml.parse(document, limits=limits)
    for error in _both(document.replace(b"</r>", b"<x/></r>"), limits):
        assert error.detail == "XML document with more than 1000 elements (line 1001)"


def test_element_cap_stops_reading_an_endless_stream() -> None:
    class Endless(io.RawIOBase):
        read_calls = 0

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            self.read_calls += 1
            return b"<r>" if self.read_calls == 1 else b"<x/>" * 16_384

    stream = Endless()
    with pytest.raises(InvalidPayload, match="more than 1000 elements"):
        for _ in safexml.iterparse(cast(IO[bytes], stream), limits=safexml.XmlLimits(max_elements=1000,
                                                                                         max_bytes=10**12)):
            pass
    assert stream.read_calls <= 3


@pytest.mark.parametrize("size", [10 * 1024 * 1024, 9_900_000])
def test_a_ten_megabyte_attribute_value_is_refused_with_a_clear_reason(size: int) -> None:
    data = b'<r a="' + b"v" * size + b'"/>'
    started = time.process_time()
    errors = _both(data, safexml.DEFAULT_LIMITS.replace(max_bytes=64 * 1024 * 1024))
    assert time.process_time() - started < 2.0
    for error in errors:
        if size > safexml.LIBXML2_MAX_BYTES:  # libxml2 stops reading the start tag at its own limit
            assert error.detail.startswith("XML start tag (attribute values or attributes) longer than "
                                           "libxml2's limit of 10000000 bytes")
        else:
            assert error.detail == "XML attribute value at line 1 longer than 65536 characters"


def test_attribute_value_cap_counts_characters_and_is_exact() -> None:
    limits = safexml.XmlLimits(max_attribute_chars=100)
    safexml.parse(('<r a="' + "ä" * 100 + '"/>').encode(), limits=limits)
    for error in _both(('<r>\n<e a="' + "ä" * 101 + '"/></r>').encode(), limits):
        assert error.detail == "XML attribute value at line 2 longer than 100 characters"


def test_ten_thousand_namespace_declarations_are_refused() -> None:
    data = ("<r " + " ".join(f'xmlns:n{i}="urn:n:{i}"' for i in range(10_000)) + "/>").encode()
    started = time.process_time()
    errors = _both(data)
    assert time.process_time() - started < 2.0
    for error in errors:
        assert error.detail == "XML document declares more than 4096 namespaces"


def test_namespace_declarations_per_element_are_capped() -> None:
    def declaring(count: int) -> bytes:
        return ("<r>\n<e " + " ".join(f'xmlns:n{i}="urn:n"' for i in range(count)) + "/></r>").encode()

    limits = safexml.XmlLimits(max_namespaces_per_element=8)
    safexml.parse(declaring(8), limits=limits)
    for error in _both(declaring(9), limits):
        assert error.detail == "XML element at line 2 declares 9 namespaces; at most 8 are accepted"


def test_namespace_declarations_in_total_are_capped() -> None:
    document = b"<r>" + b'<e xmlns="urn:a"/>' * 100 + b"</r>"
    safexml.parse(document, limits=safexml.XmlLimits(max_namespaces=100))
    for error in _both(document, safexml.XmlLimits(max_namespaces=99)):
        assert error.detail == "XML document declares more than 99 namespaces"


def test_text_longer_than_the_cap_is_refused() -> None:
    limits = safexml.XmlLimits(max_text_chars=1000)
    safexml.parse(b"<r><a>" + b"t" * 1000 + b"</a>" + b"t" * 1000 + b"</r>", limits=limits)
    for document in (b"<r>\n<a>" + b"t" * 1001 + b"</a></r>", b"<r>\n<a/>" + b"t" * 1001 + b"</r>"):
        for error in _both(document, limits):
            assert error.detail.startswith("XML text at line 2 longer than 1000 characters")


def test_text_beyond_libxml2s_own_limit_is_refused_with_a_clear_reason() -> None:
    for error in _both(b"<r>" + b"t" * (safexml.LIBXML2_MAX_BYTES + 1) + b"</r>"):
        assert error.detail.startswith("XML text longer than libxml2's limit of 10000000 bytes")


COUNTS_THAT_MAY_BE_ZERO = ("max_comments", "max_processing_instructions", "max_cdata_sections")


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(safexml.XmlLimits)])
def test_limits_must_be_positive(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        safexml.XmlLimits(**{field: -1 if field in COUNTS_THAT_MAY_BE_ZERO else 0})


def test_limits_compare_cap_by_cap() -> None:
    strict = safexml.XmlLimits(max_elements=10)
    assert strict.within(safexml.DEFAULT_LIMITS) and not safexml.DEFAULT_LIMITS.within(strict)
    assert not strict.replace(max_depth=200).within(safexml.DEFAULT_LIMITS)
    with pytest.raises(ValueError, match="libxml2"):
        safexml.XmlLimits(max_depth=256)


def test_safexml_does_not_import_its_schema_module() -> None:
    # gateway.safexml_schemas builds on gateway.safexml; the reverse would be an import cycle.
    tree = ast.parse(Path(safexml.__file__).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert not any(name and "safexml_schemas" in name for name in imported)


def test_attribute_values_are_checked_in_linear_time_with_the_caps_lifted() -> None:
    # lxml's values() is quadratic in the number of attributes (100,000 took minutes)
    lifted = safexml.DEFAULT_LIMITS.replace(max_attributes_per_element=200_000)
    data = _attributes(100_000)
    started = time.process_time()
    assert len(safexml.parse(data, limits=lifted).attrib) == 100_000
    long_value = data.replace(b'a99999="x"', b'a99999="' + b"x" * 70_000 + b'"')
    for error in _both(long_value, lifted):
        assert error.detail == "XML attribute value at line 1 longer than 65536 characters"
    assert time.process_time() - started < 2.0


# --- comments, processing instructions, CDATA sections (dropped or merged by libxml2, counted here) ----

N_BULK = 2_500_000
BULK: dict[str, bytes] = {
    "comments-only": b"<r>" + b"<!---->" * N_BULK + b"</r>",
    "text-and-comments": b"<r>" + b"x<!---->" * N_BULK + b"</r>",
    "processing-instructions": b"<r>" + b"<?p?>" * N_BULK + b"</r>",
    "cdata-sections": b"<r>" + b"<![CDATA[x]]>" * N_BULK + b"</r>",
}
BULK_REASONS = {"comments-only": "XML document with more than 1000 comments",
                "text-and-comments": "XML document with more than 1000 comments",
                "processing-instructions": "XML document with more than 100 processing instructions",
                "cdata-sections": "XML document with more than 10000 CDATA sections"}


@pytest.mark.parametrize("shape", sorted(BULK))
def test_comments_pis_and_cdata_in_bulk_are_refused_quickly(shape: str) -> None:
    started = time.process_time()
    for error in _both(BULK[shape]):
        assert error.detail == BULK_REASONS[shape]
    assert time.process_time() - started < 1.0


_PEAK = """
import json, pathlib, resource, sys, time
from gateway import safexml
from gateway.errors import InvalidPayload
data, limits = pathlib.Path(sys.argv[1]).read_bytes(), json.loads(sys.argv[2])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.process_time()
try:
    root = safexml.parse(data, limits=safexml.DEFAULT_LIMITS.replace(**limits))
    outcome = {"children": len(root), "text": len(root.text or "")}
except InvalidPayload as exc:
    outcome = {"refused": exc.detail}
outcome["seconds"] = time.process_time() - started
outcome["peak_mib"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
print(json.dumps(outcome))
"""

# Kept as nodes, a million empty comments cost about 150 MB and x<!----> repeated 270 MB
# (2.5 million: 370 and 700 MB; lxml 6.1): the bound leaves room for allocator noise.
PEAK_BOUND_MIB = 40


def _peak(tmp_path: Path, n: int, unit: str, **limits: int) -> dict[str, object]:
    """Parse ``<r>`` + ``unit`` * ``n`` + ``</r>`` in a fresh interpreter, which reads it from a
    file (one copy in memory before the parse); its outcome, time and peak memory growth
    (maximum resident set size, which counts libxml2's allocations too)."""
    document = tmp_path / "document.xml"
    document.write_bytes(b"<r>" + unit.encode() * n + b"</r>")
    done = subprocess.run([sys.executable, "-c", _PEAK, str(document), json.dumps(limits)],
                          capture_output=True, text=True, check=True, timeout=120)
    outcome: dict[str, object] = json.loads(done.stdout)
    return outcome


@pytest.mark.parametrize("unit", ["<!---->", "x<!---->", "<?p?>", "x<?p?>", "<![CDATA[x]]>"])
def test_memory_stays_flat_even_with_the_caps_lifted(tmp_path: Path, unit: str) -> None:
    """The parser drops comments and processing instructions without building a node and merges
    CDATA into the text: with every count cap lifted, a million of them still parse into a root
    without children and with at most one text node, in flat memory. (Time is what the caps
    bound: counting each one costs a few microseconds.)"""
    outcome = _peak(tmp_path, 1_000_000, unit, max_comments=10**9, max_processing_instructions=10**9,
                    max_cdata_sections=10**9)
    assert outcome["children"] == 0
    assert outcome["text"] == (1_000_000 if unit.startswith(("x", "<![")) else 0)
    assert float(str(outcome["peak_mib"])) < PEAK_BOUND_MIB, outcome


def test_memory_and_time_of_a_refused_comment_flood_are_bounded(tmp_path: Path) -> None:
    outcome = _peak(tmp_path, 4_000_000, "<!---->")  # 28 MB of comments
    assert outcome["refused"] == "XML document with more than 1000 comments"
    assert float(str(outcome["peak_mib"])) < PEAK_BOUND_MIB, outcome
    assert float(str(outcome["seconds"])) < 0.5, outcome


def test_the_comment_cap_is_exact_and_comments_are_dropped() -> None:
    limits = safexml.DEFAULT_LIMITS.replace(max_comments=3)
    data = b"<!-- a --><r>x<!-- b -->y<c/><!-- c --></r>"
    root = safexml.parse(data, limits=limits)
    assert root.text == "xy" and [child.tag for child in root] == ["c"] and root.getprevious() is None
    [streamed] = list(safexml.iterparse(io.BytesIO(data), tag="r", limits=limits))
    assert streamed.text == "xy" and [child.tag for child in streamed] == ["c"]
    for error in _both(data.replace(b"</r>", b"<!-- d --></r>"), limits):
        assert error.detail == "XML document with more than 3 comments"
        assert error.extensions["cap"] == "max_comments"


def test_no_comment_at_all_may_be_required() -> None:
    limits = safexml.DEFAULT_LIMITS.replace(max_comments=0)
    assert safexml.parse(b"<r>no comment</r>", limits=limits).text == "no comment"
    for error in _both(b"<r>split<!---->value</r>", limits):
        assert error.detail == "XML document with more than 0 comments"


def test_comment_and_processing_instruction_length_is_capped() -> None:
    limits = safexml.DEFAULT_LIMITS.replace(max_comment_chars=10)
    assert safexml.parse(b"<r><!--0123456789--><?p 12345678?></r>", limits=limits).tag == "r"
    for data, kind in ((b"<r><!--0123456789x--></r>", "comment"),
                       (b"<r><?p 123456789?></r>", "processing instruction")):
        for error in _both(data, limits):
            assert error.detail == f"XML {kind} longer than 10 characters"


def test_markup_inside_comments_cdata_and_pis_is_not_counted() -> None:
    """Inside a comment, CDATA section or processing instruction an opener of another kind is
    just text: the scan follows the document from opener to closer."""
    limits = safexml.XmlLimits(max_comments=1, max_processing_instructions=1, max_cdata_sections=1)
    data = b"<r><!-- <? <![CDATA[ --><![CDATA[ <!-- <? ]]><?p <!-- <![CDATA[ ?></r>"
    assert safexml.parse(data, limits=limits).text == " <!-- <? "


class _Trickle(io.RawIOBase):
    """A stream that hands out ``step`` bytes per read: every chunk boundary falls somewhere else."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data, self._step, self._pos = data, step, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        out = self._data[self._pos:self._pos + self._step]
        self._pos += len(out)
        return out


@pytest.mark.parametrize("step", [1, 2, 3, 5, 7, 8, 9, 10])
def test_counts_hold_across_every_chunk_boundary(step: int) -> None:
    # the XML declaration counts as a processing instruction: 'xml version="1.0"', 17 characters
    limits = safexml.XmlLimits(max_comments=2, max_processing_instructions=2, max_cdata_sections=2,
                               max_comment_chars=17)
    good = b'<?xml version="1.0"?><r a="!?"><!--12345--><![CDATA[x]]>?!<![CDATA[<!--]]><!----><?q ?></r>'
    assert [e.tag for e in safexml.iterparse(_Trickle(good, step), limits=limits)] == ["r"]
    for extra, reason in ((b"<!---->", "more than 2 comments"), (b"<?p?>", "more than 2 processing instructions"),
                          (b"<![CDATA[]]>", "more than 2 CDATA sections"),
                          (b"<!--" + b"c" * 18 + b"-->", "comment longer than 17")):
        bad = good.replace(b"</r>", extra + b"</r>") if not extra.startswith(b"<!--c") else \
            good.replace(b"<!---->", extra)
        with pytest.raises(InvalidPayload, match=reason):
            list(safexml.iterparse(_Trickle(bad, step), limits=limits))


def test_counts_hold_in_utf16_documents() -> None:
    for encoding in ("utf-16", "utf-16-le", "utf-16-be", "utf-32"):
        data = f'<?xml version="1.0" encoding="{encoding.upper()}"?><r>ä<!-- a --><!-- b --></r>'
        limits = safexml.DEFAULT_LIMITS.replace(max_comments=1)
        for error in _both(data.encode(encoding), limits):
            assert error.detail == "XML document with more than 1 comments"

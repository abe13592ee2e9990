"""The one place where the gateway parses XML.

Every XML document from outside (SOAP envelopes, XÖV payloads, SAML, mapping inputs) goes
through :func:`parse` or :func:`iterparse`. Both refuse what XML attacks need: a DOCTYPE
(and with it every entity declaration, internal or external), entity expansion and network
access; both drop comments and processing instructions inside libxml2 (no node is ever built
for them) and merge CDATA sections into the text around them. Both enforce :class:`XmlLimits`
while libxml2 reads the document, chunk by chunk, and stop at the first violation, so a
hostile document costs at most the work and memory of the part read until then: size, depth,
elements, attributes (per element and in total), namespace declarations (per element and in
total), attribute value and text length, and the number of comments, processing instructions
and CDATA sections and the length of each comment and processing instruction. Failures are
:class:`gateway.errors.InvalidPayload` with a message that names the problem and its line but
never the document's content.

Schema validation with the same rules lives in :mod:`gateway.safexml_schemas`.

What libxml2 bounds by itself (``XML_PARSE_HUGE`` is never set; measured with lxml 6.1 and
libxml2 2.14): one text node, one attribute value and one start tag (name plus all attributes)
at 10,000,000 bytes, names at 50,000 characters, nesting at 256 levels. Within one start tag
libxml2 holds every attribute before the first event reaches our counters: a start tag just
under its limit with a million short attributes costs about 0.7 s and 200 MB before it is
refused. Everything else is counted here; without these counts a 20 MB document of empty
elements costs about 620 MB and 0.9 s to build as a tree, and one of 2.5 million empty
comments (kept as nodes) about 370 MB.

Comments, processing instructions and CDATA sections reach no event of lxml's once libxml2
drops or merges them, so they are counted in the bytes on their way to the parser
(:class:`_Markup`, a scan for their delimiters that costs one regular-expression search per
chunk when there are none). Text nodes need no count of their own: with comments and
processing instructions dropped and CDATA merged, adjacent character data is one text node,
so an element has at most its text and each child's tail — bounded by ``max_elements``.
"""

from __future__ import annotations

import codecs
import dataclasses
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any, Final

from lxml import etree

from gateway.errors import InvalidPayload

# libxml2's own cap on one text node, attribute value or start tag without XML_PARSE_HUGE.
LIBXML2_MAX_BYTES: Final = 10_000_000
_LIBXML2_MAX_DEPTH: Final = 256
_LIBXML2_MAX_NAME: Final = 50_000
_CHUNK: Final = 64 * 1024

# The libxml2 options of every parser in the gateway (schema validation included).
PARSER_OPTIONS: Final[dict[str, bool]] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "huge_tree": False,
    "collect_ids": False,
    "remove_pis": True,  # processing instructions carry no data we map and may steer other tools
    "remove_comments": True,  # neither do comments; kept, each would be a node and split the text around it
    "strip_cdata": True,  # CDATA sections become ordinary text, merged with the text next to them
}


_MAY_BE_ZERO: Final = frozenset({"max_comments", "max_processing_instructions", "max_cdata_sections"})


@dataclass(frozen=True)
class XmlLimits:
    """Caps on one document; the first one exceeded ends the parse.

    ``max_text_chars`` and ``max_attribute_chars`` count characters; libxml2 additionally
    refuses any single text, attribute value or start tag above 10,000,000 bytes whatever
    they say. A ``max_text_chars`` below that is checked once the tree is built (one XPath
    pass in C): text does not multiply memory the way elements and attributes do.

    ``max_comments``, ``max_processing_instructions`` (the XML declaration is one) and
    ``max_cdata_sections`` may be 0: none accepted. ``max_comment_chars`` caps the content of
    each comment and processing instruction.
    """

    max_bytes: int = 32 * 1024 * 1024
    max_depth: int = 128
    max_elements: int = 200_000
    max_attributes: int = 400_000
    max_attributes_per_element: int = 256
    max_namespaces: int = 4_096
    max_namespaces_per_element: int = 64
    max_attribute_chars: int = 65_536
    max_text_chars: int = LIBXML2_MAX_BYTES
    max_comments: int = 1_000
    max_processing_instructions: int = 100
    max_cdata_sections: int = 10_000
    max_comment_chars: int = 65_536

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            least = 0 if field.name in _MAY_BE_ZERO else 1
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ValueError(f"{field.name} must be an integer of at least {least}")
        if self.max_depth >= _LIBXML2_MAX_DEPTH:
            raise ValueError(f"max_depth must be below libxml2's own limit of {_LIBXML2_MAX_DEPTH}")

    def replace(self, **changes: int) -> XmlLimits:
        return dataclasses.replace(self, **changes)

    def within(self, other: XmlLimits) -> bool:
        """True if no cap here is looser than the same cap of ``other``."""
        return all(getattr(self, f.name) <= getattr(other, f.name) for f in dataclasses.fields(self))


DEFAULT_LIMITS: Final = XmlLimits()


def _limits(limits: XmlLimits, max_bytes: int | None, max_depth: int | None) -> XmlLimits:
    if max_bytes is None and max_depth is None:
        return limits
    return limits.replace(**({} if max_bytes is None else {"max_bytes": max_bytes}),
                          **({} if max_depth is None else {"max_depth": max_depth}))


def _scan_prolog(head: bytes) -> bool | None:
    """True/False: a DOCTYPE does/does not precede the root element; None: ``head`` ends first."""
    pos = 0
    while True:
        pos = head.find(b"<", pos)
        if pos < 0 or pos + 9 > len(head):
            return None
        if head.startswith(b"<?", pos):
            end = head.find(b"?>", pos)
        elif head.startswith(b"<!--", pos):
            end = head.find(b"-->", pos)
        else:
            return head[pos + 1 : pos + 9].upper() == b"!DOCTYPE"
        if end < 0:
            return None
        pos = end + 2


def _doctype_in_prolog(data: bytes | memoryview) -> bool:
    """True if a DOCTYPE appears before the root element (the only place it may appear).

    Checked before libxml2 sees the document so that no entity declaration is ever read.
    Only the start of the document is copied for the scan (a small window first: it is on
    the hot path of every parse). Documents in encodings that hide the ASCII markup
    (UTF-16), or with a prolog longer than the scan window, are caught by the check of
    ``docinfo`` at the root element, which libxml2 reaches without expanding anything.
    """
    found = _scan_prolog(bytes(data[:2048]))
    if found is None and len(data) > 2048:
        found = _scan_prolog(bytes(data[:_CHUNK]))
    return bool(found)


def _refuse_doctype(tree: Any) -> None:
    docinfo = tree.docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise InvalidPayload("XML with a DOCTYPE is not accepted (DTDs and entities are disabled)")


_SIZE_REASONS: Final = (
    ("Text node too long", f"XML text longer than libxml2's limit of {LIBXML2_MAX_BYTES} bytes"),
    ("Buffer size limit", f"XML start tag (attribute values or attributes) longer than libxml2's limit "
                          f"of {LIBXML2_MAX_BYTES} bytes"),
    ("too big", f"XML comment, CDATA section or processing instruction longer than {LIBXML2_MAX_BYTES} bytes"),
    ("Name too long", f"XML name longer than {_LIBXML2_MAX_NAME} characters"),
)


def _syntax_error(exc: etree.XMLSyntaxError) -> InvalidPayload:
    # libxml2's message can quote bytes of the document (personal data): it is only used to
    # tell the kinds of failure apart; the detail names the kind and the position.
    msg, line, column = str(exc.msg), exc.lineno, exc.offset
    if not line:
        # A parser fed in chunks reports some errors (an undeclared entity) only in the thread's
        # log, which _pull_parser clears first, and then fails with a generic "no element found".
        first = next((e for e in exc.error_log if e.level >= etree.ErrorLevels.ERROR), None)
        if first is not None:
            msg, line, column = first.message, first.line, first.column
    where = f"line {line}, column {column}" if line else "unknown position"
    if "amplification" in msg or "ntity" in msg:
        return InvalidPayload(f"XML entities are not accepted ({where})", location=where)
    if "depth" in msg:
        return InvalidPayload(f"XML nested too deeply: more than {_LIBXML2_MAX_DEPTH} levels", location=where)
    for marker, reason in _SIZE_REASONS:
        if marker in msg:
            return InvalidPayload(f"{reason} ({where})", location=where)
    return InvalidPayload(f"malformed XML ({where})", location=where)


_LONG_ATTRIBUTE: Final = etree.XPath("boolean(@*[string-length() > $n])")


class _Counter:
    """Counts what the parser reports and refuses the document at the first cap exceeded."""

    def __init__(self, limits: XmlLimits, *, track_depth: bool = False) -> None:
        self.limits = limits
        self.track_depth = track_depth  # for the streaming parser, which sees every end event anyway
        self.elements = self.attributes = self.namespaces = self.namespaces_here = self.depth = 0

    def check(self, events: list[tuple[str, Any]]) -> None:
        # One loop with local names: it runs once per element of every document.
        limits, track_depth = self.limits, self.track_depth
        max_elements = limits.max_elements
        elements, attributes, namespaces, here, depth = (self.elements, self.attributes, self.namespaces,
                                                         self.namespaces_here, self.depth)
        try:
            for event, item in events:
                if event == "start":
                    elements += 1
                    if elements > max_elements:
                        raise InvalidPayload(f"XML document with more than {limits.max_elements} elements "
                                             f"(line {item.sourceline})")
                    if elements == 1:
                        _refuse_doctype(item.getroottree())
                    if here:
                        if here > limits.max_namespaces_per_element:
                            raise InvalidPayload(f"XML element at line {item.sourceline} declares {here} namespaces; "
                                                 f"at most {limits.max_namespaces_per_element} are accepted")
                        here = 0
                    if track_depth:
                        depth += 1
                        if depth > limits.max_depth:
                            raise InvalidPayload(f"XML nested too deeply: more than {limits.max_depth} levels "
                                                 f"(line {item.sourceline})")
                    count = len(item.attrib)
                    if count:
                        attributes += count
                        self._attributes(item, count, attributes)
                elif event == "end":
                    depth -= 1
                else:  # "start-ns", reported before the start of the element that declares it
                    namespaces += 1
                    here += 1
                    if namespaces > limits.max_namespaces:
                        raise InvalidPayload(f"XML document declares more than {limits.max_namespaces} namespaces")
        finally:
            self.elements, self.attributes, self.namespaces, self.namespaces_here, self.depth = (
                elements, attributes, namespaces, here, depth)

    def _attributes(self, element: Any, count: int, total: int) -> None:
        limits = self.limits
        if count > limits.max_attributes_per_element:
            raise InvalidPayload(f"XML element at line {element.sourceline} has {count} attributes; "
                                 f"at most {limits.max_attributes_per_element} are accepted")
        if total > limits.max_attributes:
            raise InvalidPayload(f"XML document with more than {limits.max_attributes} attributes "
                                 f"(line {element.sourceline})")
        # lxml's values() looks each attribute up by name (quadratic in the count): XPath beyond a few
        too_long = (_LONG_ATTRIBUTE(element, n=limits.max_attribute_chars) if count > 16 else
                    any(len(value) > limits.max_attribute_chars for value in element.values()))
        if too_long:
            raise InvalidPayload(f"XML attribute value at line {element.sourceline} longer than "
                                 f"{limits.max_attribute_chars} characters")


_KINDS: Final = ("comment", "processing instruction", "CDATA section")
_CAPS: Final = ("max_comments", "max_processing_instructions", "max_cdata_sections")
_OPENERS: Final = ("<!--", "<?", "<![CDATA[")
_CLOSERS: Final = ("-->", "?>", "]]>")
# first bytes of a document whose markup is not ASCII bytes (XML 1.0, appendix F)
_WIDE_ENCODINGS: Final = ((b"\x00\x00\xfe\xff", "utf-32-be"), (b"\xff\xfe\x00\x00", "utf-32-le"),
                          (b"\x00\x00\x00<", "utf-32-be"), (b"<\x00\x00\x00", "utf-32-le"),
                          (b"\xfe\xff", "utf-16-be"), (b"\xff\xfe", "utf-16-le"),
                          (b"\x00<", "utf-16-be"), (b"<\x00", "utf-16-le"))


class _Markup:
    """Counts comments, processing instructions and CDATA sections in the document's bytes as
    they are fed to libxml2 (which drops or merges them without an event), and measures each
    comment and processing instruction. Outside them, ``<`` only opens markup (it cannot stand
    unescaped in text or attribute values), so going from opener to closer follows the
    document exactly. A chunk without ``!`` and ``?`` holds none of them: two ``memchr`` calls.
    Documents in UTF-16 or UTF-32 are decoded for the scan."""

    def __init__(self, limits: XmlLimits, head: bytes) -> None:
        self.limits = limits
        self.counts = [0, 0, 0]
        self._caps = (limits.max_comments, limits.max_processing_instructions, limits.max_cdata_sections)
        encoding = next((name for start, name in _WIDE_ENCODINGS if head.startswith(start)), None)
        self._decoder = codecs.getincrementaldecoder(encoding)("replace") if encoding else None

        def form(text: str) -> Any:  # the scan runs on bytes, or on text when decoded
            return text if encoding else text.encode()

        self._openers = tuple(form(o) for o in _OPENERS)
        self._closers = tuple(form(c) for c in _CLOSERS)
        self._declaration, self._bang, self._question = form("<!"), form("!"), form("?")
        self._carry: Any = form("")
        self._inside: int | None = None  # index into _KINDS of the construct the last chunk ended in
        self._size = 0

    def feed(self, chunk: bytes) -> None:
        buffer = self._carry + (self._decoder.decode(chunk) if self._decoder is not None else chunk)
        self._carry = buffer[:0]
        if self._inside is None and self._bang not in buffer and self._question not in buffer:
            self._carry = buffer[-1:]  # a "<" whose "!" or "?" comes with the next chunk
            return
        pos, found = 0, [-2, -2]  # the next "<!" and "<?" at or after pos (-1: none)
        while True:
            if self._inside is not None:
                closer = self._closers[self._inside]
                end = buffer.find(closer, pos)
                if end < 0:  # keep what may be the start of the closer for the next chunk
                    keep = max(pos, len(buffer) - len(closer) + 1)
                    self._grow(keep - pos)
                    self._carry = buffer[keep:]
                    return
                self._grow(end - pos)
                self._inside, pos = None, end + len(closer)
            for i, mark in enumerate((self._declaration, self._openers[1])):
                if -1 < found[i] < pos or found[i] == -2:
                    found[i] = buffer.find(mark, pos)
            at = min((f for f in found if f >= 0), default=-1)
            if at < 0:
                self._carry = buffer[-1:] if buffer[-1:] == self._openers[1][:1] else buffer[:0]
                return
            kind = next((k for k, opener in enumerate(self._openers) if buffer.startswith(opener, at)), None)
            if kind is None:
                rest = buffer[at:]
                if len(rest) < len(self._openers[2]) and any(o.startswith(rest) for o in self._openers):
                    self._carry = rest  # "<!-" or "<![CD" at the end: decided by the next chunk
                    return
                pos = at + 2  # a declaration (a DOCTYPE is refused elsewhere)
                continue
            self._count(kind)
            self._inside, self._size, pos = kind, 0, at + len(self._openers[kind])

    def _count(self, kind: int) -> None:
        self.counts[kind] += 1
        if self.counts[kind] > self._caps[kind]:
            raise InvalidPayload(f"XML document with more than {self._caps[kind]} {_KINDS[kind]}s", cap=_CAPS[kind])

    def _grow(self, size: int) -> None:
        self._size += size
        if self._inside != 2 and self._size > self.limits.max_comment_chars:  # CDATA is text: its caps apply
            raise InvalidPayload(f"XML {_KINDS[self._inside or 0]} longer than {self.limits.max_comment_chars} "
                                 "characters", cap="max_comment_chars")


def _check_depth(root: Any, max_depth: int) -> None:
    # An XPath of max_depth+1 child steps selects the elements nested too deeply; libxml2
    # evaluates it in C in one pass, far cheaper than following end events in Python.
    if root.xpath("boolean(" + "/*" * (max_depth + 1) + ")"):
        raise InvalidPayload(f"XML nested too deeply: more than {max_depth} levels")


def _check_text(root: Any, max_chars: int) -> None:
    if max_chars >= LIBXML2_MAX_BYTES:
        return  # libxml2 has refused longer texts already
    found = root.xpath(f"(//text()[string-length() > {max_chars}])[1]")
    if found:
        raise InvalidPayload(f"XML text at line {found[0].getparent().sourceline} longer than {max_chars} characters")


def _pull_parser(events: tuple[str, ...], base_url: str | None = None) -> etree.XMLPullParser:
    # A new parser per call: lxml parsers are not thread-safe across concurrent feeds.
    etree.clear_error_log()  # see _syntax_error
    return etree.XMLPullParser(events=events, base_url=base_url, **PARSER_OPTIONS)


def parse(data: bytes | memoryview, *, limits: XmlLimits = DEFAULT_LIMITS, max_bytes: int | None = None,
          max_depth: int | None = None, base_url: str | None = None) -> Any:
    """Parse ``data`` into an lxml element within ``limits`` (``max_bytes``/``max_depth`` override
    the two most common ones), refusing DTDs and entities."""
    limits = _limits(limits, max_bytes, max_depth)
    if len(data) > limits.max_bytes:
        raise InvalidPayload(f"XML document too large: {len(data)} bytes, limit {limits.max_bytes}")
    if _doctype_in_prolog(data):
        raise InvalidPayload("XML with a DOCTYPE is not accepted (DTDs and entities are disabled)")
    view = memoryview(data)
    parser = _pull_parser(("start", "start-ns"), base_url)
    counter = _Counter(limits)
    markup = _Markup(limits, view[:4].tobytes())
    try:
        for start in range(0, len(view), _CHUNK):
            chunk = view[start : start + _CHUNK].tobytes()
            markup.feed(chunk)
            parser.feed(chunk)
            counter.check(list(parser.read_events()))
        root = parser.close()
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(exc) from None
    counter.check(list(parser.read_events()))
    _check_depth(root, limits.max_depth)
    _check_text(root, limits.max_text_chars)
    return root


class _LimitedReader:
    """Reads a stream in chunks and stops past ``max_bytes``."""

    def __init__(self, stream: IO[bytes], max_bytes: int) -> None:
        self._stream = stream
        self._left = max_bytes
        if stream.seekable():  # a file or buffer of known size: refuse before parsing anything
            here = stream.tell()
            size = stream.seek(0, io.SEEK_END) - here
            stream.seek(here)
            if size > max_bytes:
                raise InvalidPayload(f"XML document too large: {size} bytes, limit {max_bytes}")
        self.head = stream.read(_CHUNK)
        self._pending = self.head

    def read(self) -> bytes:
        if self._pending:
            out, self._pending = self._pending, b""
        else:
            out = self._stream.read(_CHUNK)
        self._left -= len(out)
        if self._left < 0:
            raise InvalidPayload("XML document too large for its limit")
        return out


def iterparse(stream: IO[bytes], *, tag: str | None = None, limits: XmlLimits = DEFAULT_LIMITS,
              max_bytes: int | None = None, max_depth: int | None = None) -> Iterator[Any]:
    """Stream a large document: yields each element (matching ``tag``) when it is complete.

    The caller should ``clear()`` elements it has handled to keep memory flat; the caps
    count every element read, cleared or not. Texts are checked when their element ends.
    """
    limits = _limits(limits, max_bytes, max_depth)
    reader = _LimitedReader(stream, limits.max_bytes)
    if _doctype_in_prolog(reader.head):
        raise InvalidPayload("XML with a DOCTYPE is not accepted (DTDs and entities are disabled)")
    parser = _pull_parser(("start", "end", "start-ns"))
    counter = _Counter(limits, track_depth=True)
    markup = _Markup(limits, reader.head[:4])
    try:
        while True:
            chunk = reader.read()
            if chunk:
                markup.feed(chunk)
                parser.feed(chunk)
            else:
                parser.close()
            events = list(parser.read_events())
            counter.check(events)
            for event, element in events:
                if event == "end":
                    _check_own_text(element, limits.max_text_chars)
                    if tag is None or element.tag == tag:
                        yield element
            if not chunk:
                return
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(exc) from None


def _check_own_text(element: Any, max_chars: int) -> None:
    # At its end an element's text and its children's tails are complete (its own tail is not:
    # the parent checks it). Children already cleared by the caller have nothing left to count.
    if max_chars >= LIBXML2_MAX_BYTES:
        return
    for owner, text in ((element, element.text), *((child, child.tail) for child in element)):
        if text is not None and len(text) > max_chars:
            raise InvalidPayload(f"XML text at line {owner.sourceline} longer than {max_chars} characters")


__all__ = ["DEFAULT_LIMITS", "LIBXML2_MAX_BYTES", "PARSER_OPTIONS", "XmlLimits", "iterparse", "parse"]

"""The one place where the gateway parses XML.

Every XML document from outside (SOAP envelopes, XÖV payloads, SAML, mapping inputs) goes
through :func:`parse` or :func:`iterparse`. Both refuse what XML attacks need: a DOCTYPE
(and with it every entity declaration, internal or external), entity expansion, network
access, documents above a size limit and elements nested deeper than a depth limit; both
drop processing instructions. Failures are :class:`gateway.errors.InvalidPayload` with a
message that names the problem but never the document's content.

Schemas are trusted project files, yet they are loaded with the same rules; those helpers
live in :mod:`gateway.safexml_schemas` and are importable from here as well:
:func:`load_xmlschema` (xmlschema, ``defuse='always'``, sandboxed to the schema's folder),
:func:`load_fast_schema` (libxml2 through lxml, for hot paths), :func:`schema_error` (the
first violation, with path and line but without values), :func:`xmlschema_resource` and
:func:`zeep_settings` (zeep clients with the same defaults).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import IO, Any

from lxml import etree

from gateway.errors import InvalidPayload

DEFAULT_MAX_BYTES = 32 * 1024 * 1024
DEFAULT_MAX_DEPTH = 128
# libxml2 stops at this depth by itself unless XML_PARSE_HUGE is set (we never set it).
_LIBXML_MAX_DEPTH = 256
_CHUNK = 64 * 1024


def _parser() -> etree.XMLParser:
    # A new parser per call: lxml parsers are not thread-safe across concurrent feeds.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        collect_ids=False,
        remove_pis=True,  # processing instructions carry no data we map and may steer other tools
    )


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
    ``docinfo`` after parsing, which libxml2 does without expanding anything.
    """
    found = _scan_prolog(bytes(data[:2048]))
    if found is None and len(data) > 2048:
        found = _scan_prolog(bytes(data[:_CHUNK]))
    return bool(found)


def _refuse_doctype(tree: Any) -> None:
    docinfo = tree.docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise InvalidPayload("XML with a DOCTYPE is not accepted (DTDs and entities are disabled)")


def _syntax_error(exc: etree.XMLSyntaxError) -> InvalidPayload:
    # libxml2's message can quote bytes of the document (personal data): it is only used to
    # tell the kinds of failure apart; the detail names the kind and the position.
    msg = str(exc)
    where = f"line {exc.lineno}, column {exc.offset}" if exc.lineno else "unknown position"
    if "amplification" in msg or "ntity" in msg:
        return InvalidPayload(f"XML entities are not accepted ({where})", location=where)
    if "depth" in msg:
        return InvalidPayload(f"XML nested too deeply: more than {_LIBXML_MAX_DEPTH} levels", location=where)
    return InvalidPayload(f"malformed XML ({where})", location=where)


def _check_depth(root: Any, max_depth: int) -> None:
    if max_depth >= _LIBXML_MAX_DEPTH:
        return
    # An XPath of max_depth+1 child steps selects the elements nested too deeply; libxml2
    # evaluates it in C in one pass, far cheaper than walking the tree in Python.
    if root.xpath("boolean(" + "/*" * (max_depth + 1) + ")"):
        raise InvalidPayload(f"XML nested too deeply: more than {max_depth} levels")


def parse(data: bytes | memoryview, *, max_bytes: int = DEFAULT_MAX_BYTES,
          max_depth: int = DEFAULT_MAX_DEPTH, base_url: str | None = None) -> Any:
    """Parse ``data`` into an lxml element, refusing DTDs, entities, oversize and deep nesting."""
    if len(data) > max_bytes:
        raise InvalidPayload(f"XML document too large: {len(data)} bytes, limit {max_bytes}")
    if _doctype_in_prolog(data):
        raise InvalidPayload("XML with a DOCTYPE is not accepted (DTDs and entities are disabled)")
    try:
        root = etree.fromstring(data, _parser(), base_url=base_url)
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(exc) from None
    _refuse_doctype(root.getroottree())
    _check_depth(root, max_depth)
    return root


class _LimitedReader:
    """A file wrapper for iterparse that stops reading past ``max_bytes``."""

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

    def read(self, size: int = -1) -> bytes:
        if self._pending:
            out, self._pending = self._pending, b""
        else:
            out = self._stream.read(_CHUNK if size < 0 else size)
        self._left -= len(out)
        if self._left < 0:
            raise InvalidPayload("XML document too large for its limit")
        return out


def iterparse(stream: IO[bytes], *, tag: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
              max_depth: int = DEFAULT_MAX_DEPTH) -> Iterator[Any]:
    """Stream a large document: yields each element (matching ``tag``) when it is complete.

    The caller should ``clear()`` elements it has handled to keep memory flat.
    """
    reader = _LimitedReader(stream, max_bytes)
    if _doctype_in_prolog(reader.head):
        raise InvalidPayload("XML with a DOCTYPE is not accepted (DTDs and entities are disabled)")
    events = etree.iterparse(reader, events=("start", "end"), resolve_entities=False, no_network=True,
                             load_dtd=False, huge_tree=False, remove_pis=True)
    depth = 0
    try:
        for event, element in events:
            if event == "start":
                if depth == 0:
                    _refuse_doctype(element.getroottree())
                depth += 1
                if depth > max_depth:
                    raise InvalidPayload(f"XML nested too deeply: more than {max_depth} levels")
                continue
            depth -= 1
            if tag is None or element.tag == tag:
                yield element
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(exc) from None


# The schema helpers, importable from here as before (imported last: they use parse()).
from gateway.safexml_schemas import (  # noqa: E402
    load_fast_schema,
    load_xmlschema,
    schema_error,
    xmlschema_resource,
    zeep_settings,
)

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_DEPTH", "iterparse", "load_fast_schema", "load_xmlschema", "parse",
           "schema_error", "xmlschema_resource", "zeep_settings"]

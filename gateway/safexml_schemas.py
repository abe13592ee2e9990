"""XSD validation of untrusted documents, bounded in work, with the parser rules of :mod:`gateway.safexml`.

Schemas are trusted project files, yet they are loaded like untrusted documents: no DTDs, no
entities, and ``xs:import``/``xs:include``/``xs:redefine`` only of files in the schema's own
folder (checked before libxml2 compiles the schema; libxml2 itself would read any local path).

Why validation runs while a document is parsed: lxml's tree validation
(``XMLSchema.validate``) records an XPath for every violation, found by walking the preceding
siblings of the element and of each of its ancestors, so its work grows with the square of the
number of invalid siblings (measured with lxml 6.1: 40,000 invalid siblings 7.6 s, 160,000
115 s). libxml2's streaming validator, attached to a parser, records no paths and stays linear
(160,000 invalid siblings 0.3 s); it is the one that decides. Only when it found at most
:data:`LOCATE_MAX_ERRORS` violations is the tree validated again to name the first one's path
and line; beyond that the error names the element and the kind of violation, without a path.

Error details never repeat a value: the reason is chosen from libxml2's error type, and only
element and attribute names are taken from its message (they are schema vocabulary; values in
libxml2's messages are quoted without escaping and cannot be masked reliably).
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from lxml import etree

from gateway.errors import ConfigurationError, InvalidPayload
from gateway.safexml import PARSER_OPTIONS, parse

LOCATE_MAX_ERRORS: Final = 100
_MAX_PATH_CHARS: Final = 500
_XS: Final = "http://www.w3.org/2001/XMLSchema"
_REFERENCES: Final = tuple(f"{{{_XS}}}{name}" for name in ("import", "include", "redefine", "override"))
_MAX_NAME_CHARS: Final = 100

# Names in libxml2's message: "Element '{ns}local'[, attribute '{ns}local']: ...". Names cannot
# contain quotes or braces; a namespace may, so it is matched up to its closing brace.
_NAMES = re.compile(r"^Element '(?:\{[^}]*\})?([^'{}]+)'(?:, attribute '(?:\{[^}]*\})?([^'{}]+)')?")

_REASONS: Final = {
    "SCHEMAV_CVC_DATATYPE_VALID_1_2_1": "value is not valid for its type",
    "SCHEMAV_CVC_DATATYPE_VALID_1_2_2": "value is not valid for its type",
    "SCHEMAV_CVC_DATATYPE_VALID_1_2_3": "value is not valid for its type",
    "SCHEMAV_CVC_TYPE_3_1_2": "value is not valid for its type",
    "SCHEMAV_CVC_PATTERN_VALID": "value does not match the required pattern",
    "SCHEMAV_CVC_ENUMERATION_VALID": "value is not one of the allowed values",
    "SCHEMAV_CVC_LENGTH_VALID": "value has the wrong length",
    "SCHEMAV_CVC_MINLENGTH_VALID": "value is too short",
    "SCHEMAV_CVC_MAXLENGTH_VALID": "value is too long",
    "SCHEMAV_CVC_MININCLUSIVE_VALID": "value is below the allowed range",
    "SCHEMAV_CVC_MINEXCLUSIVE_VALID": "value is below the allowed range",
    "SCHEMAV_CVC_MAXINCLUSIVE_VALID": "value is above the allowed range",
    "SCHEMAV_CVC_MAXEXCLUSIVE_VALID": "value is above the allowed range",
    "SCHEMAV_CVC_TOTALDIGITS_VALID": "value has too many digits",
    "SCHEMAV_CVC_FRACTIONDIGITS_VALID": "value has too many fraction digits",
    "SCHEMAV_CVC_COMPLEX_TYPE_2_1": "element must be empty",
    "SCHEMAV_CVC_COMPLEX_TYPE_2_3": "text is not allowed in this element",
    "SCHEMAV_CVC_COMPLEX_TYPE_2_4": "child elements are not allowed in this element",
    "SCHEMAV_CVC_COMPLEX_TYPE_3_2_1": "attribute not allowed",
    "SCHEMAV_CVC_COMPLEX_TYPE_3_2_2": "attribute not allowed",
    "SCHEMAV_CVC_COMPLEX_TYPE_4": "a required attribute is missing",
    "SCHEMAV_CVC_ELT_1": "the root element is not declared by the schema",
    "SCHEMAV_CVC_ELT_2": "the element is declared abstract",
    "SCHEMAV_CVC_ELT_3_1": "the element is not nillable",
    "SCHEMAV_CVC_IDC": "an identity constraint (key, keyref or unique) is violated",
}
_GENERIC_REASON: Final = "invalid content"


def _reason(entry: Any) -> str:
    if entry.type_name == "SCHEMAV_ELEMENT_CONTENT":
        # libxml2's fixed phrases tell the two cases apart; the message itself is not shown
        if "not expected" in entry.message:
            return "element not expected here"
        if "Missing child" in entry.message:
            return "a required child element is missing"
        return "invalid child elements"
    return _REASONS.get(entry.type_name, _GENERIC_REASON)


def _names(entry: Any) -> tuple[str | None, str | None]:
    found = _NAMES.match(entry.message or "")
    if found is None:
        return None, None
    element, attribute = found.groups()
    return element[:_MAX_NAME_CHARS], attribute[:_MAX_NAME_CHARS] if attribute else None


def _step(element: Any) -> str:
    """``local`` or ``local[n]`` when siblings share the tag (the form xmlschema uses)."""
    name = str(etree.QName(element).localname)[:_MAX_NAME_CHARS]
    before = sum(1 for _ in element.itersiblings(element.tag, preceding=True))
    if before or next(element.itersiblings(element.tag), None) is not None:
        return f"{name}[{before + 1}]"
    return name


def _readable_path(root: Any, libxml2_path: str, line: int, name: str | None) -> str:
    """``/a/b[2]/c`` (local names) for the element libxml2's path points to, else that path.

    libxml2 writes ``*`` for an element in a default namespace and counts positions its own
    way for prefixed names, so its path is evaluated relative to ``root`` and the result is
    used only if it is the element libxml2 reported (same line, same name).
    """
    steps = libxml2_path.lstrip("/").split("/")
    try:
        found = root.xpath("." + "".join("/" + s for s in steps[1:]),
                           namespaces={p: u for p, u in root.nsmap.items() if p}) if len(steps) > 1 else [root]
    except etree.XPathError:
        found = []
    element = found[0] if found and etree.iselement(found[0]) else None
    if element is None or element.sourceline != line or (
            name and str(etree.QName(element).localname)[:_MAX_NAME_CHARS] != name):
        return libxml2_path
    chain = [element, *element.iterancestors()]
    chain = chain[: chain.index(root) + 1] if root in chain else chain
    return "/" + "/".join(_step(e) for e in reversed(chain))


def _read_schema(path: Path, folder: Path, seen: set[Path]) -> Any:
    """The parsed schema document, after checking the files it references (recursively)."""
    document = parse(path.read_bytes(), base_url=path.as_uri())
    for reference in document.iter(*_REFERENCES):
        location = reference.get("schemaLocation")
        if location is None:
            continue  # an import without a location loads nothing
        if urlsplit(location).scheme:
            raise ConfigurationError(f"schema {path.name}: {location!r} is not a file next to it")
        target = (path.parent / unquote(location)).resolve()
        if not target.is_relative_to(folder) or not target.is_file():
            raise ConfigurationError(f"schema {path.name}: {location!r} is not a file in {folder}")
        if target not in seen:
            seen.add(target)
            _read_schema(target, folder, seen)
    return document


class XmlSchema:
    """One project XSD. :meth:`validate` decides with libxml2's streaming validator."""

    def __init__(self, path: Path) -> None:
        self.path = path.resolve()
        self._schema = etree.XMLSchema(_read_schema(self.path, self.path.parent, {self.path}))
        self._lock = threading.Lock()  # tree validation writes the schema object's error log

    def validate(self, root: Any, *, label: str, data: bytes | memoryview | None = None) -> None:
        """Raise :class:`InvalidPayload` for the first violation in ``root``.

        ``data``: the bytes ``root`` was parsed from with :func:`gateway.safexml.parse` (within
        its limits), if the caller has them; else ``root`` is serialised for the validator.
        """
        source = bytes(data) if data is not None else etree.tostring(root)
        parser = etree.XMLParser(schema=self._schema, **PARSER_OPTIONS)
        try:
            etree.fromstring(source, parser)
            return
        except etree.XMLSyntaxError:
            violations = [e for e in parser.error_log if e.domain == etree.ErrorDomains.SCHEMASV]
        if not violations:
            raise InvalidPayload(f"{label} is not valid against its schema")
        if len(violations) <= LOCATE_MAX_ERRORS:
            located = self._locate(root, label)
            if located is not None:
                raise located
        first = violations[0]
        element, attribute = _names(first)
        at = f"element {element!r}" + (f", attribute {attribute!r}" if attribute else "") if element else "an element"
        raise InvalidPayload(f"{label} is not valid against its schema at {at}: {_reason(first)} "
                             f"(first of {len(violations)} violations)", location=element)

    def _locate(self, root: Any, label: str) -> InvalidPayload | None:
        with self._lock:
            if self._schema.validate(root):
                return None  # streaming and tree validation disagree: fall back to the coarse report
            first = self._schema.error_log[0]
            path, line = first.path or "/", first.line
        element, attribute = _names(first)
        where = _readable_path(root, path, line, element) + (f"/@{attribute}" if attribute else "")
        if len(where) > _MAX_PATH_CHARS:  # names may be 50,000 characters long, and deeply nested
            where = "…" + where[-_MAX_PATH_CHARS:]
        at = f"{where} (line {line})" if line else where
        return InvalidPayload(f"{label} is not valid against its schema at {at}: {_reason(first)}",
                              location=where, line=line or None)


@lru_cache(maxsize=64)
def load_schema(path: Path) -> XmlSchema:
    """The validator of a project XSD, loaded once per file."""
    return XmlSchema(path)


__all__ = ["LOCATE_MAX_ERRORS", "XmlSchema", "load_schema"]

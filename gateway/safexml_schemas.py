"""Schemas and SOAP tooling with the rules of :mod:`gateway.safexml` (import them from there).

Schemas are trusted project files, yet they are loaded like untrusted documents: no DTDs, no
entities, no network, no files outside the schema's folder. :func:`schema_error` turns the
first violation into an ``InvalidPayload`` that names path and line but never a value.
"""

from __future__ import annotations

import re
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

from lxml import etree

from gateway.errors import InvalidPayload


def zeep_settings(*, schema_imports: bool = False) -> Any:
    """zeep client settings with the project's XML defaults.

    ``schema_imports`` lets zeep follow ``xs:import``/``wsdl:import`` locations of a WSDL
    the caller trusts (e.g. the XTA WSDL served by the sandbox); DTDs and entities stay
    forbidden either way.
    """
    from zeep import Settings  # imported lazily: only SOAP tooling needs zeep

    return Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=not schema_imports,
                    xml_huge_tree=False)


@lru_cache(maxsize=64)
def load_xmlschema(path: Path) -> Any:
    """An xmlschema validator for a project XSD: no DTDs, no entities, no access outside its folder."""
    import xmlschema  # imported lazily: importing it costs ~0.3 s

    with warnings.catch_warnings():
        # xmlschema only warns when an import is blocked; a schema with a missing part
        # would validate less than it claims, so a blocked import is an error here.
        warnings.simplefilter("error", xmlschema.XMLSchemaImportWarning)
        return xmlschema.XMLSchema10(str(path.resolve()), defuse="always", allow="sandbox", timeout=5)


def xmlschema_resource(root: Any) -> Any:
    """Wrap an already parsed element for xmlschema validation, with no resource access at all."""
    import xmlschema

    return xmlschema.XMLResource(root, allow="none", defuse="always")


@lru_cache(maxsize=64)
def load_fast_schema(path: Path) -> Any:
    """A libxml2 validator (lxml.etree.XMLSchema) for hot paths; same file, same parser rules.

    libxml2 resolves ``xs:import``/``xs:include`` relative to the file; the parser forbids
    the network, so only the project's local schema files can be read.
    """
    from gateway.safexml import parse  # here, not at the top: gateway.safexml re-exports this module

    return etree.XMLSchema(parse(path.read_bytes(), base_url=path.resolve().as_uri()))


# A quoted literal in a validator's reason, as Python's repr writes it: '...' or, when the
# text contains an apostrophe, "..." (backslash escapes inside either).
_QUOTED = re.compile(r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*\"""")
# An element name in Clark notation ('{urn:x}name') is schema vocabulary, not a value.
_CLARK_NAME = re.compile(r"""^['"]\{[^}'"]*\}[\w.-]+['"]$""")
_GENERIC_REASON = "invalid content"
_MIN_VALUE_CHARS = 3  # shorter texts ("01", "3") identify no one and would blank structural reasons


def _values(elem: Any) -> set[str]:
    """The texts and attribute values of the offending element, as a validator might quote them."""
    if not etree.iselement(elem):
        return set()
    raw = [*elem.itertext(), *elem.attrib.values()]
    return {v for text in raw for v in (text.strip(), " ".join(text.split())) if len(v) >= _MIN_VALUE_CHARS}


def _without_values(reason: str, elem: Any) -> str:
    masked = _QUOTED.sub(lambda m: m.group(0) if _CLARK_NAME.match(m.group(0)) else "'…'", reason)
    # Belt and braces: a value the validator wrote without (or with unusual) quotes.
    if any(value in masked for value in _values(elem)):
        return _GENERIC_REASON
    return masked


def schema_error(schema: Any, root: Any, label: str) -> InvalidPayload:
    """The first schema violation in ``root`` as InvalidPayload naming path and line.

    Values in the validator's reason are masked (element names are kept), and a reason that
    still contains a value of the offending element is replaced by a generic one: a value may
    be the applicant's data, and error details must not carry personal data.
    """
    for error in schema.iter_errors(xmlschema_resource(root)):
        reason = _without_values(str(error.reason or _GENERIC_REASON), getattr(error, "elem", None))
        where = error.path or "/"
        line = getattr(error, "sourceline", None)
        at = f"{where} (line {line})" if line else where
        return InvalidPayload(f"{label} is not valid against its schema at {at}: {reason}",
                              location=where, line=line)
    return InvalidPayload(f"{label} is not valid against its schema")

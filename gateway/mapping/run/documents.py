"""Parsing one untrusted source document: XML through the project's safe parser, JSON with
exact decimals and without duplicate keys, both bounded in size (and XML in depth)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Final, TypeAlias

from lxml import etree

from gateway import safexml
from gateway.errors import InvalidPayload

MAX_DOCUMENT_BYTES: Final = 20 * 1024 * 1024
MAX_XML_DEPTH: Final = 200

# What parse_xml and parse_json return: a root element, a top-level object. (lxml has no
# type information, so to mypy the element is Any; the alias says what is meant.)
ParsedDocument: TypeAlias = etree._Element | dict[str, Any]


def parse_xml(data: bytes) -> Any:
    """Parse untrusted XML through the project's one safe parser (no DTD, no entities, no
    network, bounded size and depth)."""
    return safexml.parse(data, max_bytes=MAX_DOCUMENT_BYTES, max_depth=MAX_XML_DEPTH)


class _DuplicateKey(ValueError):
    pass


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def parse_json(data: bytes) -> dict[str, Any]:
    """Parse an untrusted JSON object; decimals stay exact (no binary floats for money)."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise InvalidPayload(f"JSON document larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        doc = json.loads(data, object_pairs_hook=_object, parse_float=Decimal, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise InvalidPayload(
            f"JSON is not well-formed: {exc.msg} (line {exc.lineno} column {exc.colno})",
            location=f"line {exc.lineno} column {exc.colno}",
        ) from None
    except _DuplicateKey as exc:
        raise InvalidPayload(f"JSON object has the key {str(exc)[:80]!r} twice") from None
    except UnicodeDecodeError:
        raise InvalidPayload("JSON is not valid UTF-8") from None
    except RecursionError:
        raise InvalidPayload("JSON nesting too deep") from None
    except ValueError:  # NaN/Infinity, or an integer beyond Python's digit limit
        raise InvalidPayload("JSON contains a number that is not allowed") from None
    if not isinstance(doc, dict):
        raise InvalidPayload("JSON document must be an object at the top level", location="")
    return doc

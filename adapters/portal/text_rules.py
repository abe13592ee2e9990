"""The characters a portal application may contain, checked once over every string of it
(envelope and form data) before anything else looks at it.

- Control characters (C0, DEL, C1) are refused: they hide text, break logs, CSV and headers
  downstream. TAB, LF and CR only in multi-line text: the form's fields of type ``text`` (the
  mapping file says which, gateway/mapping/multiline.py) and an attachment's description.
- Line and paragraph separators (U+2028, U+2029) only in multi-line text, like LF: elsewhere
  they break lines in logs, CSV and JavaScript strings just as well.
- Bidirectional formatting characters are refused everywhere: embeddings, overrides and isolates
  (U+202A-U+202E, U+2066-U+2069) make text display differently from what it is ("Trojan
  Source"), and the marks LRM, RLM and ALM (U+200E, U+200F, U+061C) reorder neutral characters
  around them just as invisibly. Names and addresses in Arabic or Hebrew script display right
  to left without them (the Unicode bidirectional algorithm does that from the letters).
- Invisible characters that carry no meaning in an application are refused everywhere: the
  byte order mark / zero width no-break space (U+FEFF), tag characters (U+E0000-U+E007F, which
  hide text from the reader) and the zero width space (U+200B): "Muster\u200bmann" would look
  like "Mustermann" but compare unequal in search and deduplication. The zero width joiner and
  non-joiner (U+200D, U+200C) are kept: Persian, Kurdish and Indic scripts need them to spell
  words correctly (and emoji sequences use ZWJ).
- Every string is normalised to NFC, so equal text compares equal (é as one code point, not e +
  combining accent) in search, deduplication and the case worker's view.

A refusal names the place as a JSON Pointer into the envelope, never the value.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any

from gateway.errors import InvalidPayload

Pattern = tuple[str, ...]

_BIDI = "\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c"
_INVISIBLE = "\u200b\ufeff\U000e0000-\U000e007f"
_SEPARATORS = "\u2028\u2029"
_SINGLE_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_SEPARATORS}{_BIDI}{_INVISIBLE}]")
_MULTI_LINE = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI}{_INVISIBLE}]")
_BIDI_CHAR = re.compile(f"[{_BIDI}]")
_INVISIBLE_CHAR = re.compile(f"[{_INVISIBLE}]")
_SEPARATOR_CHAR = re.compile(f"[{_SEPARATORS}]")
_CONTROL_CHAR = re.compile("[\x00-\x1f\x7f-\x9f]")
# multi-line members of the envelope itself
ENVELOPE_MULTILINE: frozenset[Pattern] = frozenset({("attachments", "*", "description"),
                                                    ("reply_channel", "pgp_public_key")})  # ASCII armor


def pointer(parts: tuple[str | int, ...]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _matches(parts: tuple[str | int, ...], patterns: frozenset[Pattern]) -> bool:
    for pattern in patterns:
        if len(pattern) == len(parts) and all((p == "*" and isinstance(q, int)) or p == q
                                              for p, q in zip(pattern, parts, strict=True)):
            return True
    return False


def _refuse(text: str, parts: tuple[str | int, ...], what: str) -> InvalidPayload:
    kind = ("a bidirectional formatting character" if _BIDI_CHAR.search(text) else
            "an invisible formatting character" if _INVISIBLE_CHAR.search(text) else
            "a line or paragraph separator" if _SEPARATOR_CHAR.search(text) and not _CONTROL_CHAR.search(text) else
            "a control character")
    return InvalidPayload(f"{what} at {pointer(parts)} contains {kind}", field=pointer(parts))


def _string(text: str, parts: tuple[str | int, ...], multiline: Callable[[tuple[str | int, ...]], bool]) -> str:
    rule = _MULTI_LINE if multiline(parts) else _SINGLE_LINE
    if rule.search(text):
        raise _refuse(text, parts, "the value")
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)


def clean(document: Any, multiline: Callable[[tuple[str | int, ...]], bool]) -> Any:
    """``document`` with every string checked and in NFC (a new structure; the input is kept).
    Member names are checked too (single-line) but kept as they are."""

    def walk(value: Any, parts: tuple[str | int, ...]) -> Any:
        if isinstance(value, str):
            return _string(value, parts, multiline)
        if isinstance(value, dict):
            result = {}
            for key, item in value.items():
                if _SINGLE_LINE.search(key):
                    raise _refuse(key, (*parts, key), "the member name")
                result[key] = walk(item, (*parts, key))
            return result
        if isinstance(value, list):
            return [walk(item, (*parts, index)) for index, item in enumerate(value)]
        return value

    return walk(document, ())


def multiline_in(data_patterns: frozenset[Pattern]) -> Callable[[tuple[str | int, ...]], bool]:
    """Multi-line places of an application whose form data has ``data_patterns``."""
    patterns = ENVELOPE_MULTILINE | {("data", *p) for p in data_patterns}
    return lambda parts: _matches(parts, patterns)

"""Reads the window-envelope address field of page 1 and judges it against the recipient.

Text is taken with its position (pypdf's text visitor; the position of a fragment is where its
baseline starts: the text matrix composed with the current transformation matrix), grouped into
lines by baseline, and sorted into the zones of :class:`WindowGeometry`. Text drawn as vector
paths or inside images is invisible to this check (as it is to a letter shop's text check).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pypdf import PageObject
from pypdf.errors import PyPdfError

from adapters.hybridmail.address import PostalAddress, normalise
from adapters.hybridmail.errors import InvalidDocument
from adapters.hybridmail.geometry import A4_HEIGHT_MM, MM, WindowGeometry

_LINE_TOLERANCE_MM = 1.0  # fragments whose baselines differ less belong to one line
# "39517 Tangerhütte", "D-39517 ...", "A-1010 Wien": a line that makes a block an address.
_POSTCODE_LINE = re.compile(r"^(?:[a-z]{1,2}-)?\d{4,5}\s+\S")


@dataclass(frozen=True)
class TextLine:
    x: float  # mm from the left edge, where the line starts
    y: float  # mm from the top edge, its baseline
    text: str


@dataclass(frozen=True)
class ZoneReading:
    recipient_lines: tuple[str, ...]
    sender_lines: tuple[str, ...]
    franking_band: tuple[str, ...]  # text where the franking goes (must be empty)
    left_margin: tuple[str, ...]  # text left of the margin (must be empty)
    window: tuple[str, ...]  # everything in the address field, top to bottom


class Verdict(StrEnum):
    MATCH = "match"  # the recipient zone shows exactly the recipient's address
    NO_ADDRESS = "no-address"  # no usable address in the window (none, misplaced, not an address): cover page
    MISMATCH = "mismatch"  # the window shows an address that is not the recipient's: refuse


def page_lines(page: PageObject) -> list[TextLine]:
    fragments: list[tuple[float, float, str]] = []

    def visit(text: str, cm: list[float], tm: list[float], font: Any, size: Any) -> None:
        if not text.strip():
            return
        x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
        y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
        for number, part in enumerate(t for t in text.split("\n") if t.strip()):
            # A fragment holding several lines (rare) is placed at its start; later lines are
            # assumed one line-height (4 mm) lower, which is how the check treats them anyway.
            fragments.append((x / MM, A4_HEIGHT_MM - y / MM + 4.0 * number, part))

    try:
        page.extract_text(visitor_text=visit)
    except (PyPdfError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise InvalidDocument(f"the text of page 1 cannot be read ({type(exc).__name__})") from None
    lines: list[list[tuple[float, float, str]]] = []
    for fragment in sorted(fragments, key=lambda f: (f[1], f[0])):
        if lines and abs(lines[-1][0][1] - fragment[1]) < _LINE_TOLERANCE_MM:
            lines[-1].append(fragment)
        else:
            lines.append([fragment])
    result = []
    for group in lines:
        group.sort(key=lambda f: f[0])
        result.append(TextLine(x=group[0][0], y=group[0][1], text=" ".join(f[2].strip() for f in group)))
    return result


def read_zone(lines: list[TextLine], window: WindowGeometry) -> ZoneReading:
    tol = window.tolerance

    def inside(line: TextLine, top: float, bottom: float) -> bool:
        return top - tol < line.y <= bottom + tol and window.field_left - tol <= line.x < window.field_right

    return ZoneReading(
        recipient_lines=tuple(ln.text for ln in lines if inside(ln, window.recipient_top, window.recipient_bottom)),
        sender_lines=tuple(ln.text for ln in lines if inside(ln, window.sender_top, window.sender_bottom)),
        franking_band=tuple(ln.text for ln in lines
                            if window.field_left - tol <= ln.x < window.field_right
                            and window.sender_bottom + tol < ln.y <= window.franking_bottom - tol),
        left_margin=tuple(ln.text for ln in lines if ln.x < window.left_margin - tol),
        window=tuple(ln.text for ln in lines if inside(ln, window.sender_top, window.recipient_bottom)),
    )


def _contains_run(lines: list[str], run: list[str]) -> bool:
    return any(lines[i:i + len(run)] == run for i in range(len(lines) - len(run) + 1))


def judge(reading: ZoneReading, recipient: PostalAddress) -> Verdict:
    """MATCH: send the PDF as it is. NO_ADDRESS: page 1 cannot serve the window (empty, body text
    running through it, or the recipient's address misplaced) - a cover page fixes it. MISMATCH:
    the window shows somebody else's address - the document is probably not the recipient's."""
    expected = [normalise(line) for line in recipient.printed_lines()]
    shown = [normalise(line) for line in reading.recipient_lines]
    if shown == expected and not reading.franking_band and not reading.left_margin:
        return Verdict.MATCH
    window = [normalise(line) for line in reading.window]
    if _contains_run(window, expected):
        return Verdict.NO_ADDRESS
    if any(_POSTCODE_LINE.match(line) for line in window):
        return Verdict.MISMATCH
    return Verdict.NO_ADDRESS


def mismatch_detail(reading: ZoneReading, recipient: PostalAddress) -> str:
    """Why page 1 does not fit, without repeating any address text."""
    if reading.franking_band:
        return "page 1 has text in the band E-POST keeps free for the franking"
    if reading.left_margin:
        return "page 1 has text left of the printable margin"
    expected, shown = recipient.printed_lines(), reading.recipient_lines
    if len(shown) != len(expected):
        return f"the window shows {len(shown)} address line(s), the recipient has {len(expected)}"
    differing = [i + 1 for i, (a, b) in enumerate(zip(shown, expected, strict=True)) if normalise(a) != normalise(b)]
    return f"address line(s) {', '.join(map(str, differing))} in the window differ from the recipient's"

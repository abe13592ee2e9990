"""A generated cover page (Deckblatt) for a document without a usable address field, and how it
is put in front of the document.

Page 1 per DIN 5008 Form B and E-POST's overlay (:mod:`adapters.hybridmail.geometry`): the
authority's name as letterhead above the field, the return line at the bottom of the sender zone,
the franking band left empty, the recipient lines (10 pt, 4 mm apart, no blank lines) in the
recipient zone; below the first fold (105 mm) only the kind of reply, the case reference, the date
and the number of enclosed pages - no other personal data. The font is Bitstream Vera Sans, which
ships with reportlab and is embedded (subset), so the page prints the same everywhere; an address
with characters the font lacks is refused rather than printed wrongly.
"""

from __future__ import annotations

import os
from datetime import date
from io import BytesIO
from pathlib import Path

import reportlab
from pypdf import PdfReader, PdfWriter
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from adapters.hybridmail.address import PostalAddress, ReturnAddress
from adapters.hybridmail.errors import InvalidAddress
from adapters.hybridmail.geometry import A4_HEIGHT_MM, MM, WindowGeometry

FONT, FONT_BOLD = "RG-VeraSans", "RG-VeraSans-Bold"
_FONT_DIR = Path(reportlab.__file__).parent / "fonts"
RECIPIENT_PT, MIN_RECIPIENT_PT = 10.0, 8.0  # DIN 5008: at least 8 pt in the address zone
RETURN_PT, MIN_RETURN_PT = 7.0, 6.0
LINE_PITCH_MM = 4.0
FIRST_BASELINE_MM = 3.5  # below the top of the recipient zone (cap height of 10 pt plus air)


def register_fonts() -> None:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(FONT, str(_FONT_DIR / "Vera.ttf")))
        pdfmetrics.registerFont(TTFont(FONT_BOLD, str(_FONT_DIR / "VeraBd.ttf")))


def _printable(text: str) -> None:
    font = pdfmetrics.getFont(FONT)
    known = font.face.charToGlyph  # type: ignore[attr-defined]
    if any(ord(c) not in known for c in text if c != " "):
        raise InvalidAddress("the address has characters the cover page font cannot print")


def _fit(text: str, font: str, size: float, minimum: float, width_mm: float) -> float:
    while pdfmetrics.stringWidth(text, font, size) > width_mm * MM:
        size -= 0.5
        if size < minimum:
            raise InvalidAddress("an address line is too long for the window")
    return size


def render_cover_page(*, recipient: PostalAddress, sender: ReturnAddress, authority: str, title: str,
                      reference: str, enclosed_pages: int, on: date, window: WindowGeometry) -> bytes:
    """One A4 page (PDF bytes); raises InvalidAddress when the address cannot be printed as required."""
    register_fonts()
    width_mm = window.field_right - window.field_left
    lines = recipient.printed_lines()
    for text in [*lines, sender.return_line()]:
        _printable(text)
    pitch = LINE_PITCH_MM
    last_baseline = window.recipient_top + FIRST_BASELINE_MM + pitch * (len(lines) - 1)
    if last_baseline > window.recipient_bottom:
        pitch = (window.recipient_bottom - window.recipient_top - FIRST_BASELINE_MM) / max(len(lines) - 1, 1)
    size = min(_fit(text, FONT, RECIPIENT_PT, MIN_RECIPIENT_PT, width_mm) for text in lines)
    buffer = BytesIO()
    page = canvas.Canvas(buffer, pagesize=A4, pageCompression=1, invariant=True)  # same input, same bytes
    page.setTitle(title)
    page.setAuthor(authority)

    def text_at(x_mm: float, y_mm: float, text: str, font: str, pt: float) -> None:
        page.setFont(font, pt)
        page.drawString(x_mm * MM, (A4_HEIGHT_MM - y_mm) * MM, text)

    text_at(window.field_left, 25.0, authority, FONT_BOLD, 14)
    return_line = sender.return_line()
    text_at(window.field_left, window.sender_bottom - 1.5, return_line, FONT,
            _fit(return_line, FONT, RETURN_PT, MIN_RETURN_PT, width_mm))
    for number, text in enumerate(lines):
        text_at(window.field_left, window.recipient_top + FIRST_BASELINE_MM + pitch * number, text, FONT, size)
    text_at(window.field_left, 115.0, title, FONT_BOLD, 13)
    text_at(window.field_left, 124.0, f"Aktenzeichen: {reference}", FONT, 10)
    text_at(window.field_left, 130.0, f"Datum: {on.strftime('%d.%m.%Y')}", FONT, 10)
    pages = "Seite" if enclosed_pages == 1 else "Seiten"
    text_at(window.field_left, 136.0, f"Anlage: Ihr Schreiben ({enclosed_pages} {pages})", FONT, 10)
    text_at(window.field_left, 148.0, "Dieses Deckblatt wurde für den Postversand erstellt.", FONT, 9)
    text_at(window.field_left, 153.0, "Das Schreiben folgt auf den nächsten Seiten.", FONT, 9)
    page.showPage()
    page.save()
    return buffer.getvalue()


def prepend(cover: bytes, document: PdfReader, target: Path) -> None:
    """Writes cover + document to ``target`` and makes it durable (fsync) before returning."""
    writer = PdfWriter()
    writer.append(PdfReader(BytesIO(cover)))
    writer.append(document)
    writer.add_metadata({"/Producer": "Rathaus-Gateway hybrid mail"})
    tmp = target.with_name(target.name + ".part")
    with open(tmp, "wb") as fh:
        writer.write(fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target)

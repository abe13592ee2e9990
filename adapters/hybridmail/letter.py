"""The PDF a reply becomes for the letter shop: its documents (one, or several joined in order),
or, for a reply without documents, its title and text set as a plain letter. The address page
comes later (``prepare_letter``: the document's own page 1, or a generated cover page)."""

from __future__ import annotations

import os
from datetime import date
from io import BytesIO
from pathlib import Path

from pypdf import PdfWriter
from pypdf.errors import PyPdfError
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen import canvas

from adapters.hybridmail.coverpage import FONT, FONT_BOLD, register_fonts
from adapters.hybridmail.errors import InvalidDocument
from adapters.hybridmail.geometry import A4_HEIGHT_MM, A4_WIDTH_MM, MM
from adapters.hybridmail.options import PdfLimits
from adapters.hybridmail.pdfcheck import bounded, open_pdf

LEFT_MM, RIGHT_MM, TOP_MM, BOTTOM_MM = 25.0, 20.0, 25.0, 20.0  # inside E-POST's 12 mm left margin
BODY_PT, LEADING_PT = 10.5, 14.0


def _durable(data: bytes, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target)
    return target


def _printable(text: str) -> str:
    """The text with characters the embedded font lacks replaced (it prints what it has)."""
    known = pdfmetrics.getFont(FONT).face.charToGlyph  # type: ignore[attr-defined]
    return "".join(c if c in " \n" or ord(c) in known else "?" for c in text)


def render_text_letter(*, title: str, text: str, reference: str, authority: str, on: date, max_pages: int,
                       target: Path) -> Path:
    """Title, reference, date and the text, wrapped on A4 pages; refuses more than ``max_pages``."""
    register_fonts()
    width = (A4_WIDTH_MM - LEFT_MM - RIGHT_MM) * MM
    buffer = BytesIO()
    page = canvas.Canvas(buffer, pagesize=A4, pageCompression=1, invariant=True)
    page.setTitle(title)
    page.setAuthor(authority)
    y = (A4_HEIGHT_MM - TOP_MM) * MM
    pages = 1

    def line(content: str, font: str, size: float) -> None:
        nonlocal y, pages
        if y < BOTTOM_MM * MM:
            page.showPage()
            pages += 1
            if pages > max_pages:
                raise InvalidDocument(f"the reply's text needs more than {max_pages} pages")
            y = (A4_HEIGHT_MM - TOP_MM) * MM
        page.setFont(font, size)
        page.drawString(LEFT_MM * MM, y, content)
        y -= LEADING_PT

    line(_printable(authority), FONT_BOLD, 12)
    y -= LEADING_PT
    for part in simpleSplit(_printable(title), FONT_BOLD, 13, width):
        line(part, FONT_BOLD, 13)
    line(f"Aktenzeichen: {reference}", FONT, BODY_PT)
    line(f"Datum: {on.strftime('%d.%m.%Y')}", FONT, BODY_PT)
    y -= LEADING_PT
    for paragraph in _printable(text).split("\n"):
        for part in simpleSplit(paragraph, FONT, BODY_PT, width) or [""]:
            line(part, FONT, BODY_PT)
    page.showPage()
    page.save()
    return _durable(buffer.getvalue(), target)


def join(documents: list[Path], target: Path, limits: PdfLimits) -> Path:
    """The documents one after the other in one PDF (pypdf within its resource caps)."""
    if len(documents) == 1:
        return documents[0]
    writer = PdfWriter()
    try:
        with bounded(limits, max_pages=limits.max_pages):
            for document in documents:
                writer.append(open_pdf(document, limits))
            buffer = BytesIO()
            writer.write(buffer)
    except (PyPdfError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise InvalidDocument(f"the documents cannot be joined into one letter ({type(exc).__name__})") from None
    return _durable(buffer.getvalue(), target)

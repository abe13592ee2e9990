"""Helpers for the hybrid-mail adapter's tests and demos: letter PDFs with or without an address
in the window, options for a local sandbox. TEST DATA (fictitious people)."""

from __future__ import annotations

from pathlib import Path

from reportlab.lib.pagesizes import A4, LETTER, landscape
from reportlab.pdfgen import canvas

from adapters.hybridmail.address import PostalAddress
from adapters.hybridmail.geometry import MM
from adapters.hybridmail.options import EPostOptions
from adapters.hybridmail.sandbox.config import DEMO_ACCOUNT

ERIKA = PostalAddress(lines=("Erika Mustermann", "Heidestraße 17"), zip_code="39517", city="Tangerhütte")
MAX = PostalAddress(lines=("Max Mustermann", "Lindenweg 3"), zip_code="39517", city="Tangerhütte")


def letter_pdf(path: Path, address: list[str] | None = None, *, pages: int = 2, top_mm: float = 69.5,
               left_mm: float = 20.0, pagesize: tuple[float, float] = A4, body_through_window: bool = False) -> Path:
    """A decision PDF; ``address`` lines are printed from ``top_mm`` (baseline of the first line)."""
    page = canvas.Canvas(str(path), pagesize=pagesize)
    height_mm = pagesize[1] / MM
    for number in range(pages):
        if number == 0 and address:
            text = page.beginText(left_mm * MM, (height_mm - top_mm) * MM)
            text.setFont("Helvetica", 10)
            text.setLeading(4 * MM)
            for line in address:
                text.textLine(line)
            page.drawText(text)
        if number == 0 and body_through_window:
            page.setFont("Helvetica", 10)
            for row in range(30):
                page.drawString(25 * MM, (height_mm - 30 - row * 5) * MM, f"Zeile {row} des Formulars ohne Anschrift")
        page.setFont("Helvetica", 11)
        page.drawString(25 * MM, (height_mm - 120) * MM, f"Bescheid - Seite {number + 1}")
        page.showPage()
    page.save()
    return path


def landscape_pdf(path: Path) -> Path:
    return letter_pdf(path, pagesize=landscape(A4), pages=1)


def us_letter_pdf(path: Path) -> Path:
    return letter_pdf(path, pagesize=LETTER, pages=1)


def options(base_url: str, **overrides: object) -> EPostOptions:
    values: dict[str, object] = {
        "base_url": base_url, "insecure_http": base_url.startswith("http://"), "vendor_id": DEMO_ACCOUNT.vendor_id,
        "ekp": DEMO_ACCOUNT.ekp, "secret": DEMO_ACCOUNT.secret, "password": DEMO_ACCOUNT.password,
        "sender": {"name": "Stadt Tangerhütte", "street": "Bismarckstraße 5", "zip_code": "39517",
                   "city": "Tangerhütte"},
        "authority_name": "Einheitsgemeinde Stadt Tangerhütte", "min_status_interval_seconds": 0,
        "test_flag": False, "timeout_seconds": 5,
        **overrides,
    }
    return EPostOptions.model_validate(values)


__all__ = ["ERIKA", "MAX", "landscape_pdf", "letter_pdf", "options", "us_letter_pdf"]

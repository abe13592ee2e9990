"""Makes a decision PDF ready for the letter shop: check it, read page 1's address field, and put a
generated cover page in front when page 1 cannot serve the window envelope."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from adapters.hybridmail.address import PostalAddress
from adapters.hybridmail.addresszone import Verdict, judge, mismatch_detail, page_lines, read_zone
from adapters.hybridmail.coverpage import prepend, render_cover_page
from adapters.hybridmail.errors import AddressMismatch, InvalidDocument
from adapters.hybridmail.options import EPostOptions
from adapters.hybridmail.pdfcheck import bounded, check_pages, file_sha256, open_pdf

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")


@dataclass(frozen=True)
class PreparedLetter:
    path: Path  # the PDF to upload: the document itself, or the cover page + the document
    pages: int
    size: int
    sha256: str
    cover_page: bool


def _address_verdict(path: Path, recipient: PostalAddress, options: EPostOptions) -> tuple[Verdict, str, int]:
    with bounded(options.pdf):
        reader = open_pdf(path, options.pdf)
        pages = check_pages(reader, options.pdf)
        reading = read_zone(page_lines(reader.pages[0]), options.window)
    return judge(reading, recipient), mismatch_detail(reading, recipient), pages


def prepare_letter(document: Path, recipient: PostalAddress, *, name: str, title: str, reference: str,
                   work_dir: Path, options: EPostOptions, on: date | None = None) -> PreparedLetter:
    """The checked PDF for ``recipient``. ``name`` (letters, digits, '-') names the file written to
    ``work_dir`` when a cover page is needed; the document itself is never changed."""
    if not _NAME.match(name):
        raise InvalidDocument("the letter name must be 1-64 letters, digits or '-'")
    verdict, detail, pages = _address_verdict(document, recipient, options)
    if verdict == Verdict.MISMATCH:
        raise AddressMismatch(detail)
    if verdict == Verdict.MATCH and options.cover_page != "always":
        return PreparedLetter(document, pages, document.stat().st_size, file_sha256(document), cover_page=False)
    if options.cover_page == "never":
        raise InvalidDocument(f"page 1 cannot serve the window envelope ({detail}) and cover pages are off")
    cover = render_cover_page(recipient=recipient, sender=options.sender, authority=options.authority_name,
                              title=title, reference=reference, enclosed_pages=pages, on=on or date.today(),
                              window=options.window)
    work_dir.mkdir(parents=True, exist_ok=True)
    target = work_dir / f"{name}.pdf"
    with bounded(options.pdf, max_pages=options.pdf.max_pages + 1):
        prepend(cover, open_pdf(document, options.pdf), target)
    # The result must pass the same check the letter shop applies, or it is not sent.
    verdict, detail, pages = _address_verdict(target, recipient, options)
    if verdict != Verdict.MATCH:
        raise InvalidDocument(f"the generated cover page does not fit the window ({detail})")
    return PreparedLetter(target, pages, target.stat().st_size, file_sha256(target), cover_page=True)

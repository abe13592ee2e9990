"""Checks a PDF before it becomes a letter: a PDF, not encrypted, at most so many bytes and
pages, every page A4 portrait - parsed with bounded effort.

pypdf reads the file lazily from disk (the document is never held whole in memory by us); its
per-context :func:`pypdf.apply_configuration` caps what one stream may decode, how far the page
tree may go, how many form XObjects text extraction may follow, and no external JBIG2 decoder is
ever called. The caps apply to the calling context only, never process-wide.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pypdf import PdfReader, apply_configuration
from pypdf.errors import PyPdfError

from adapters.hybridmail.errors import InvalidDocument
from adapters.hybridmail.geometry import A4_HEIGHT_MM, A4_WIDTH_MM, MM
from adapters.hybridmail.options import PdfLimits

PDF_MAGIC = b"%PDF-"


@dataclass(frozen=True)
class PdfFacts:
    pages: int
    size: int
    sha256: str


@contextmanager
def bounded(limits: PdfLimits, max_pages: int | None = None) -> Iterator[None]:
    """pypdf's resource caps for everything parsed inside the block."""
    budget = limits.max_decoded_stream_bytes
    pages = max_pages or limits.max_pages
    with apply_configuration(
        maximum_declared_stream_length=budget, zlib_maximum_output_length=budget,
        lzw_maximum_output_length=budget, run_length_maximum_output_length=budget,
        array_based_stream_maximum_output_length=budget, brotli_maximum_output_length=budget,
        jbig2_maximum_output_length=budget, image_maximum_buffer_size=budget,
        stream_decoding_work_maximum_length=budget * 2, stream_parsing_work_maximum_count=1_000_000,
        page_tree_maximum_entries=pages * 4 + 16, page_tree_maximum_page_entries=pages * 64 + 1024,
        page_tree_maximum_depth=32, xform_maximum_invocations_per_extraction=200,
        jbig2dec_binary=None, disable_legacy_handling=True,
    ):
        yield


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _page_size_mm(page: object) -> tuple[float, float]:
    box = page.mediabox  # type: ignore[attr-defined]
    width, height = float(box.width) / MM, float(box.height) / MM
    rotate = int(page.get("/Rotate", 0) or 0) % 360  # type: ignore[attr-defined]
    return (height, width) if rotate in (90, 270) else (width, height)


def open_pdf(path: Path, limits: PdfLimits) -> PdfReader:
    """A reader for ``path`` after the cheap checks (size, magic); call inside :func:`bounded`."""
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise InvalidDocument(f"the PDF has {size} bytes; at most {limits.max_bytes} are accepted")
    with open(path, "rb") as fh:
        if fh.read(len(PDF_MAGIC)) != PDF_MAGIC:
            raise InvalidDocument("the document is not a PDF")
    try:
        reader = PdfReader(path, strict=False)
        if reader.is_encrypted:
            raise InvalidDocument("the PDF is encrypted; letters must be printable as they are")
    except (PyPdfError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise InvalidDocument(f"the PDF cannot be read ({type(exc).__name__})") from None
    return reader


def check_pages(reader: PdfReader, limits: PdfLimits) -> int:
    """Number of pages, after checking the count and that every page is A4 portrait."""
    try:
        count = len(reader.pages)
        if count == 0:
            raise InvalidDocument("the PDF has no pages")
        if count > limits.max_pages:
            raise InvalidDocument(f"the PDF has {count} pages; at most {limits.max_pages} are accepted")
        tol = limits.size_tolerance_mm
        for number, page in enumerate(reader.pages, start=1):
            width, height = _page_size_mm(page)
            if abs(width - A4_WIDTH_MM) > tol or abs(height - A4_HEIGHT_MM) > tol:
                raise InvalidDocument(f"page {number} is {width:.0f} x {height:.0f} mm; letters need A4 portrait")
    except (PyPdfError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise InvalidDocument(f"the PDF's pages cannot be read ({type(exc).__name__})") from None
    return count


def inspect_pdf(path: Path, limits: PdfLimits) -> PdfFacts:
    with bounded(limits):
        reader = open_pdf(path, limits)
        pages = check_pages(reader, limits)
    return PdfFacts(pages=pages, size=path.stat().st_size, sha256=file_sha256(path))

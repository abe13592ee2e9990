"""What the sandbox checks on an uploaded letter, as E-POST describes its checks [S]: the fields,
the PDF (base64, PDF, size, A4, pages) and that page 1's address field shows the address given in
the fields - with the same code the gateway uses before uploading (pdfcheck, addresszone).

Error codes: E324 (duplicate PDF within 60 minutes) is E-POST's [S]; all E9xx codes are the
sandbox's own - the real API's codes for these cases are not known here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from adapters.hybridmail.addresszone import Verdict, judge, page_lines, read_zone
from adapters.hybridmail.errors import InvalidDocument
from adapters.hybridmail.geometry import WindowGeometry
from adapters.hybridmail.options import PdfLimits
from adapters.hybridmail.pdfcheck import PDF_MAGIC, bounded, check_pages, open_pdf
from adapters.hybridmail.wire import LetterMetadata

_FILE_NAME = re.compile(r"^[A-Za-z0-9._-]{5,200}$")
_LIMITS = {"addressLine1": 80, "addressLine2": 80, "addressLine3": 80, "addressLine4": 80, "addressLine5": 80,
           "zipCode": 20, "city": 80, "country": 80, "senderAdressLine1": 80, "senderStreet": 80,
           "senderZipCode": 20, "senderCity": 80}


class Refused(Exception):
    """An answer of the API with its error object."""

    def __init__(self, status: int, code: str, description: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.status, self.code, self.description, self.headers = status, code, description, headers or {}

    def body(self) -> dict[str, str]:
        return {"level": "Error", "code": self.code, "description": self.description}


@dataclass(frozen=True)
class CheckedLetter:
    fields: dict[str, Any]  # the letter object without data
    pdf: bytes
    sha256: str
    pages: int


def check_letter(item: Any, number: int, limits: PdfLimits, window: WindowGeometry) -> CheckedLetter:
    where = f"letter {number}"
    if not isinstance(item, dict):
        raise Refused(400, "E900", f"{where}: not an object")
    for name in ("fileName", "data", "addressLine1", "zipCode", "city"):
        if not isinstance(item.get(name), str) or not item[name]:
            raise Refused(400, "E901", f"{where}: {name} is missing")
    if not _FILE_NAME.match(item["fileName"]):
        raise Refused(400, "E902", f"{where}: fileName must be 5-200 characters of A-Z, a-z, 0-9, '.', '_', '-'")
    for name, limit in _LIMITS.items():
        value = item.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            raise Refused(400, "E902", f"{where}: {name} must be text of at most {limit} characters")
    try:
        pdf = base64.b64decode(item["data"], validate=True)
    except (binascii.Error, ValueError):
        raise Refused(400, "E910", f"{where}: data is not base64") from None
    if len(pdf) > limits.max_bytes:
        raise Refused(400, "E912", f"{where}: the PDF is larger than {limits.max_bytes} bytes")
    if not pdf.startswith(PDF_MAGIC):
        raise Refused(400, "E911", f"{where}: data is not a PDF")
    fields = {k: v for k, v in item.items() if k != "data"}
    try:
        recipient = LetterMetadata.model_validate(
            {"senderAdressLine1": "-", "senderStreet": "-", "senderZipCode": "-", "senderCity": "-", **fields}
        ).recipient()
    except ValidationError:
        raise Refused(400, "E902", f"{where}: the address fields are not valid") from None
    with tempfile.NamedTemporaryFile(suffix=".pdf") as tmp:
        tmp.write(pdf)
        tmp.flush()
        try:
            with bounded(limits):
                reader = open_pdf(Path(tmp.name), limits)
                pages = check_pages(reader, limits)
                reading = read_zone(page_lines(reader.pages[0]), window)
        except InvalidDocument as exc:
            raise Refused(400, "E913", f"{where}: {exc.detail}") from None
    verdict = judge(reading, recipient)
    if verdict != Verdict.MATCH:
        if reading.franking_band or reading.left_margin:
            raise Refused(400, "E922", f"{where}: page 1 has content in a restricted area")
        if not reading.recipient_lines:
            raise Refused(400, "E920", f"{where}: no address in the address field of page 1")
        raise Refused(400, "E921", f"{where}: the address in the PDF does not match the address fields")
    return CheckedLetter(fields=fields, pdf=pdf, sha256=hashlib.sha256(pdf).hexdigest(), pages=pages)

"""The E-POSTBUSINESS API's JSON, as far as it is known here (field names camelCase as on the wire;
the API spells "Adress"). [S]: two maintained third-party clients agree; the swagger document
itself was not readable here. Unknown response fields are ignored, so additions do not break us.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from adapters.hybridmail.address import PostalAddress, ReturnAddress

_CHUNK = 3 * 64 * 1024  # a multiple of 3, so the base64 of the chunks concatenates to that of the file


class LoginRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    vendor_id: str = Field(alias="vendorID")
    ekp: str
    secret: str
    password: str
    vendor_sub_id: str | None = Field(None, alias="vendorSubID")
    token_duration: int = Field(alias="tokenDuration")  # minutes


class ApiError(BaseModel):
    """The error object of the API (``{level, code, description}``)."""

    model_config = ConfigDict(extra="ignore")

    level: str | None = None
    code: str | None = None
    description: str | None = None
    date: str | None = None


class UploadResult(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    file_name: str = Field(alias="fileName")
    letter_id: int = Field(alias="letterID")


class LetterStatus(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    letter_id: int = Field(alias="letterID")
    file_name: str | None = Field(None, alias="fileName")
    status_id: int = Field(alias="statusID")
    status_details: str | None = Field(None, alias="statusDetails")
    created_date: datetime | None = Field(None, alias="createdDate")
    processed_date: datetime | None = Field(None, alias="processedDate")
    print_upload_date: datetime | None = Field(None, alias="printUploadDate")
    print_feedback_date: datetime | None = Field(None, alias="printFeedbackDate")
    no_of_pages: int | None = Field(None, alias="noOfPages")
    test_flag: bool | None = Field(None, alias="testFlag")
    custom1: str | None = None
    custom2: str | None = None
    batch_id: int | None = Field(None, alias="batchID")
    registered_letter_status: str | None = Field(None, alias="registeredLetterStatus")
    error_list: list[ApiError] = Field(default_factory=list, alias="errorList")


class LetterMetadata(BaseModel):
    """Everything of a letter object except ``data`` (the PDF, streamed separately)."""

    model_config = ConfigDict(populate_by_name=True, frozen=True)

    file_name: str = Field(alias="fileName", pattern=r"^[A-Za-z0-9._-]{5,200}$")
    address_line1: str = Field(alias="addressLine1", max_length=80)
    address_line2: str | None = Field(None, alias="addressLine2", max_length=80)
    address_line3: str | None = Field(None, alias="addressLine3", max_length=80)
    address_line4: str | None = Field(None, alias="addressLine4", max_length=80)
    address_line5: str | None = Field(None, alias="addressLine5", max_length=80)
    zip_code: str = Field(alias="zipCode", max_length=20)
    city: str = Field(max_length=80)
    country: str | None = Field(None, max_length=80)
    sender_address_line1: str = Field(alias="senderAdressLine1", max_length=80)
    sender_street: str = Field(alias="senderStreet", max_length=80)
    sender_zip_code: str = Field(alias="senderZipCode", max_length=20)
    sender_city: str = Field(alias="senderCity", max_length=80)
    is_color: bool = Field(False, alias="isColor")
    is_duplex: bool = Field(True, alias="isDuplex")
    cover_letter: bool = Field(True, alias="coverLetter")
    test_flag: bool = Field(True, alias="testFlag")
    test_email: str | None = Field(None, alias="testEMail")
    activate_duplicate_failsafe: bool = Field(True, alias="activateDuplicateFailsafe")
    custom1: str | None = Field(None, max_length=100)  # the gateway's reply id: finds the letter after a crash
    custom2: str | None = Field(None, max_length=100)  # the case reference
    batch_id: int | None = Field(None, alias="batchID", ge=1, le=2**31 - 1)  # one bulk send: found again in one call
    vendor_sub_id: str | None = Field(None, alias="vendorSubID")

    @classmethod
    def for_recipient(cls, recipient: PostalAddress, sender: ReturnAddress, **fields: Any) -> LetterMetadata:
        lines = list(recipient.lines) + [None] * (5 - len(recipient.lines))
        return cls(addressLine1=lines[0], addressLine2=lines[1], addressLine3=lines[2], addressLine4=lines[3],
                   addressLine5=lines[4], zipCode=recipient.zip_code, city=recipient.city, country=recipient.country,
                   senderAdressLine1=sender.name, senderStreet=sender.street, senderZipCode=sender.zip_code,
                   senderCity=sender.city, **fields)

    def recipient(self) -> PostalAddress:
        lines = tuple(v for v in (self.address_line1, self.address_line2, self.address_line3, self.address_line4,
                                  self.address_line5) if v)
        return PostalAddress(lines=lines, zip_code=self.zip_code, city=self.city, country=self.country)


class LetterUpload(BaseModel):
    """One letter of an upload request: its fields and the PDF file (streamed as base64)."""

    model_config = ConfigDict(frozen=True)

    metadata: LetterMetadata
    pdf: Path
    size: int = Field(ge=0)

    def _head(self) -> bytes:
        fields = self.metadata.model_dump(by_alias=True, exclude_none=True, mode="json")
        return json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode("utf-8")[:-1] + b',"data":"'

    def encoded_length(self) -> int:
        return len(self._head()) + 4 * ((self.size + 2) // 3) + 2

    def encode(self) -> Iterator[bytes]:
        yield self._head()
        seen = 0
        with open(self.pdf, "rb") as fh:
            for chunk in iter(lambda: fh.read(_CHUNK), b""):
                seen += len(chunk)
                yield base64.b64encode(chunk)
        if seen != self.size:
            raise ValueError("the PDF changed size while it was being uploaded")
        yield b'"}'


def upload_body(letters: list[LetterUpload]) -> tuple[int, Iterator[bytes]]:
    """Content-Length and a generator of the JSON array, one file at a time in memory chunks."""
    length = 2 + max(len(letters) - 1, 0) + sum(letter.encoded_length() for letter in letters)

    def generate() -> Iterator[bytes]:
        yield b"["
        for number, letter in enumerate(letters):
            if number:
                yield b","
            yield from letter.encode()
        yield b"]"

    return length, generate()

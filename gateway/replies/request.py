"""A reply as local processing sends it: ``POST /v1/cases/{id}/replies`` (the JSON, or the
``reply`` part of a multipart request whose other parts are the documents, named by their ids)."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from gateway.case.model import CaseStatus
from gateway.catalog import ChannelName

# Plain names only: the name travels in mails, letters and XTA containers. Letters (German
# umlauts too), digits, space, dot, underscore, parentheses and hyphen; always a .pdf.
FILENAME_PATTERN = r"^[A-Za-z0-9ÄÖÜäöüß][A-Za-z0-9ÄÖÜäöüß ._()-]{0,95}\.pdf$"
_BIDI = "\u202a-\u202e\u2066-\u2069"
_SINGLE_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}]")
_MULTI_LINE = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI}]")
MAX_TEXT_CHARS = 100_000


def _single_line(value: str) -> str:
    if _SINGLE_LINE.search(value):
        raise ValueError("must be one line without control or bidirectional formatting characters")
    return unicodedata.normalize("NFC", value)


def _multi_line(value: str) -> str:
    if _MULTI_LINE.search(value):
        raise ValueError("contains control or bidirectional formatting characters")
    return unicodedata.normalize("NFC", value)


class DocumentRef(BaseModel):
    """A PDF of the reply: its bytes are the multipart part named ``id``, or an upload
    (``POST /v1/reply-documents``) of this client named by its ``sha512``."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    filename: Annotated[str, Field(pattern=FILENAME_PATTERN)]
    sha512: str | None = Field(default=None, pattern=r"^[0-9a-f]{128}$",
                               description="required for an uploaded document; checked for a multipart part")


class ReplyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["decision", "request", "notice", "status"] = Field(
        description="decision (Bescheid), request (Nachforderung), notice (Mitteilung), status (status update)")
    title: Annotated[str, Field(min_length=1, max_length=500), AfterValidator(_single_line)]
    text: Annotated[str, Field(max_length=MAX_TEXT_CHARS), AfterValidator(_multi_line)] = ""
    status: CaseStatus | None = Field(default=None, description="kind status only: the case status it reports "
                                      "(default: the case's current status)")
    channel: ChannelName | None = Field(default=None, description="this channel only (it must be one the catalog "
                                        "allows for the kind and able to serve the case); default: the catalog's "
                                        "order, the applicant's choice first")
    documents: list[DocumentRef] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _consistent(self) -> ReplyRequest:
        if self.status is not None and self.kind != "status":
            raise ValueError("status belongs to a reply of kind 'status' only")
        if len({d.id for d in self.documents}) != len(self.documents):
            raise ValueError("document ids must be unique within a reply")
        if len({d.filename.casefold() for d in self.documents}) != len(self.documents):
            raise ValueError("document file names must be unique within a reply")
        return self


def fingerprint(case_id: str, request: ReplyRequest, digests: dict[str, str]) -> str:
    """What makes two requests the same reply (for ``Idempotency-Key``): the case, the reply's
    fields and each document's SHA-512."""
    canonical = {"case": case_id, **request.model_dump(mode="json", exclude={"documents"}),
                 "documents": [{"id": d.id, "filename": d.filename, "sha512": digests[d.id]}
                               for d in request.documents]}
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

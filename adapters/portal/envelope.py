"""The portal's application envelope: who, which service, which form, the form's data."""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.case.model import AccountIdentity, Payment, ReplyChannel

ALLOWED_MEDIA_TYPES = frozenset({
    "application/pdf", "image/jpeg", "image/png", "image/tiff", "text/plain", "application/xml",
    "application/json", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.oasis.opendocument.text",
})


def _safe_filename(name: str) -> str:
    """No paths, no traversal, no control characters: the name is shown and may be saved."""
    # Cc covers C0, DEL and C1; Cf covers invisible bidi overrides that disguise extensions
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in name):
        raise ValueError("file name contains control or formatting characters")
    if "/" in name or "\\" in name or name in (".", "..") or name.startswith("."):
        raise ValueError("file name must be a plain name without path or leading dot")
    return name


SafeFilename = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_safe_filename)]


def _allowed_media_type(value: str) -> str:
    if value not in ALLOWED_MEDIA_TYPES:
        raise ValueError(f"media type {value!r} is not accepted for attachments")
    return value


class AttachmentRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    filename: SafeFilename
    media_type: Annotated[str, AfterValidator(_allowed_media_type)]
    sha512: str = Field(pattern=r"^[0-9a-f]{128}$")
    purpose: Literal["form", "attachment", "report"] = "attachment"
    description: str | None = Field(default=None, max_length=1000)


class PortalReplyChannel(ReplyChannel):
    """How the applicant wants to be answered (kind and address, as the case keeps it); an e-mail
    answer may come with the applicant's OpenPGP key (ASCII armor, as FIT-Connect's
    ``replyChannel.eMail.pgpPublicKey``): then decisions go encrypted with their documents."""

    pgp_public_key: str | None = Field(default=None, max_length=64 * 1024,
                                       pattern=r"^-----BEGIN PGP PUBLIC KEY BLOCK-----\r?\n")

    @model_validator(mode="after")
    def _key_for_email_only(self) -> PortalReplyChannel:
        if self.pgp_public_key is not None and self.kind != "email":
            raise ValueError("pgp_public_key belongs to an e-mail reply channel only")
        return self

    def for_case(self) -> ReplyChannel:
        return ReplyChannel(kind=self.kind, address=self.address)

    def details(self) -> dict[str, str]:
        """The choice as the case's ``references["replyChannel"]`` holds it (FIT-Connect's shape)."""
        details = {"kind": self.kind, "address": self.address}
        if self.pgp_public_key is not None:
            details["pgpPublicKey"] = self.pgp_public_key
        return details


def _aware(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError("submitted_at needs a time zone")
    return value


class PortalApplication(BaseModel):
    """What the portal backend sends; unknown members are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")
    tenant: str = Field(pattern=r"^[0-9]{12}$", description="ARS of the municipality")
    service: str = Field(pattern=r"^99[0-9]{12}$", description="LeiKa key")
    form: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$", description="the portal's form id")
    request_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._:-]{1,128}$")
    submitted_at: Annotated[dt.datetime, AfterValidator(_aware)]
    account: AccountIdentity | None = None
    reply_channel: PortalReplyChannel | None = None
    payment: Payment | None = None
    data: dict[str, Any]
    attachments: list[AttachmentRef] = Field(default_factory=list, max_length=50)

    @field_validator("attachments")
    @classmethod
    def _unique_attachment_ids(cls, attachments: list[AttachmentRef]) -> list[AttachmentRef]:
        ids = [a.id for a in attachments]
        if len(ids) != len(set(ids)):
            raise ValueError("attachment ids must be unique within an application")
        return attachments

    @property
    def source_format(self) -> str:
        return f"portal:{self.form}"

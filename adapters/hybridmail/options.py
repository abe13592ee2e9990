"""Configuration of the hybrid-mail adapter (``adapters: {hybridmail: {...}}``).

Secrets (``secret``, ``password``) come from the settings file or the environment, never from code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from adapters.hybridmail.address import ReturnAddress
from adapters.hybridmail.geometry import EPOST_WINDOW, WindowGeometry

DEFAULT_BASE_URL = "https://api.epost.docuguide.com"  # [S] two maintained clients and the FAQ summary


class PdfLimits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_bytes: int = Field(20 * 1024 * 1024, gt=0, description="per PDF (E-POST: 20 MB [S])")
    max_pages: int = Field(100, ge=1, le=10_000, description="ours; E-POST's own limit is unknown [?]")
    size_tolerance_mm: float = Field(1.0, ge=0, le=5, description="A4 portrait within this")
    max_decoded_stream_bytes: int = Field(20 * 1024 * 1024, gt=0, description="pypdf decoding budget per stream")


class EPostOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = DEFAULT_BASE_URL
    insecure_http: bool = Field(False, description="allow plain http (sandbox and tests only)")
    ca_file: Path | None = Field(None, description="CA bundle for the API's certificate; system CAs if unset")
    vendor_id: str = Field(min_length=1, max_length=100)
    ekp: str = Field(pattern=r"^[0-9]{1,20}$", description="Deutsche Post customer number")
    secret: SecretStr
    password: SecretStr
    vendor_sub_id: str | None = None
    token_minutes: int = Field(60, ge=5, le=1440, description="tokenDuration asked for at login (max 1440 [S])")
    renew_before_seconds: float = Field(120.0, ge=0)
    timeout_seconds: float = Field(60.0, gt=0, le=600)
    upload_timeout_seconds: float = Field(600.0, gt=0, le=3600)
    test_flag: bool = Field(True, description="E-POST testFlag: checked up to status 2, never printed or "
                            "billed. Production must set false explicitly.")
    test_email: str | None = None
    is_color: bool = False
    is_duplex: bool = True
    cover_letter_flag: bool = Field(True, description="value of the letter's coverLetter field for a PDF whose "
                                    "page 1 carries the address (ours or the document's); semantics [?]")
    duplicate_failsafe: bool = Field(True, description="activateDuplicateFailsafe: E-POST refuses the same "
                                     "PDF again within 60 minutes (E324) [S]")
    max_request_bytes: int = Field(300 * 1024 * 1024, gt=0, description="one upload request (E-POST: 300 MB [S])")
    max_letters_per_request: int = Field(200, ge=1, le=10_000)
    min_status_interval_seconds: float = Field(5.0, ge=0, description="between status queries (HTTP 429 "
                                               "when polled too often [S])")
    sender: ReturnAddress
    authority_name: str = Field(min_length=1, max_length=120, description="letterhead of a generated cover page")
    cover_page: Literal["auto", "always", "never"] = Field(
        "auto", description="auto: only when page 1 has no address in the window; never: refuse such PDFs")
    window: WindowGeometry = EPOST_WINDOW
    pdf: PdfLimits = PdfLimits()

    @model_validator(mode="after")
    def _transport_is_secure(self) -> EPostOptions:
        if self.base_url.startswith("http://") and not self.insecure_http:
            raise ValueError("base_url uses plain http; set insecure_http: true only for the sandbox")
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must be an http(s) URL")
        return self

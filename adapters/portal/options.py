"""Options of the portal adapter (``adapters: {portal: {...}}`` in the settings)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PortalOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_clock_skew_seconds: int = Field(
        default=300, ge=0, le=86_400,
        description="how far in the future an application's submitted_at may lie (clocks differ a little)")
    upload_ttl_seconds: int = Field(
        default=86_400, ge=60,
        description="an upload (POST /v1/uploads, or an attachment of a multipart application) not used by an "
                    "application within this time expires; the blob garbage collector then removes its bytes")
    upload_quota_count: int = Field(default=100, ge=1, description="pending uploads per client at most ...")
    upload_quota_bytes: int = Field(default=500 * 1024 * 1024, ge=1024, description="... and their bytes at most")

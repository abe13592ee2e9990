"""Options of the portal adapter (``adapters: {portal: {...}}`` in the settings)."""

from __future__ import annotations

import datetime as dt

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class PortalOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_clock_skew_seconds: int = Field(
        default=300, ge=0, le=86_400,
        description="how far in the future an application's submitted_at may lie (clocks differ a little)")
    earliest_submitted_at: AwareDatetime = Field(
        default=dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
        description="an application's submitted_at before this is refused as implausible (e.g. 0001-01-01 from an "
                    "unset date field in the portal)")
    upload_ttl_seconds: int = Field(
        default=86_400, ge=60,
        description="an upload (POST /v1/uploads) not used by an application within this time expires; the blob "
                    "garbage collector then removes its bytes")
    upload_quota_count: int = Field(default=100, ge=1, description="pending uploads per client at most ...")
    upload_quota_bytes: int = Field(default=500 * 1024 * 1024, ge=1024, description="... and their bytes at most")
    refused_bytes_per_hour: int = Field(
        default=100 * 1024 * 1024, ge=1024,
        description="bytes of refused applications (envelope and attachments) a client may send per hour; "
                    "beyond, its applications are answered 429 until the hour is over")

"""Options of the portal adapter (``adapters: {portal: {...}}`` in the settings)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PortalOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_clock_skew_seconds: int = Field(
        default=300, ge=0, le=86_400,
        description="how far in the future an application's submitted_at may lie (clocks differ a little)")

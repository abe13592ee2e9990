"""Postal addresses: the recipient of a letter and the sender's return address."""

from __future__ import annotations

import re
import unicodedata

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_PRINTED_LINES = 6  # DIN 5008: the recipient zone holds six lines (27.3 mm; 24 mm on E-POST)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def normalise(text: str) -> str:
    """For comparing printed and given addresses: NFC, case-folded, single spaces."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _clean(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("control characters are not allowed in an address")
    return " ".join(unicodedata.normalize("NFC", value).split())


class PostalAddress(BaseModel):
    """A recipient as the E-POST letter fields hold it (``addressLine1..5``, ``zipCode``, ``city``,
    ``country``) and as it must be printed in the window (lines, then ZIP and city, then country)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lines: tuple[str, ...] = Field(min_length=1, max_length=5, description="name, additions, street")
    zip_code: str = Field(min_length=1, max_length=20)
    city: str = Field(min_length=1, max_length=80)
    country: str | None = Field(None, max_length=80, description="empty for Germany; else the country "
                                "name, printed in capitals on its own line")

    @field_validator("lines")
    @classmethod
    def _lines(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(_clean(v) for v in value)
        if any(not 1 <= len(v) <= 80 for v in cleaned):
            raise ValueError("each address line must have 1 to 80 characters")
        return cleaned

    @field_validator("zip_code", "city")
    @classmethod
    def _text(cls, value: str) -> str:
        cleaned = _clean(value)
        if not cleaned:
            raise ValueError("must not be blank")
        return cleaned

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        cleaned = _clean(value) if value else ""
        if cleaned.casefold() in ("", "deutschland", "germany", "de"):
            return None
        return cleaned.upper()

    @model_validator(mode="after")
    def _fits(self) -> PostalAddress:
        if len(self.printed_lines()) > MAX_PRINTED_LINES:
            raise ValueError(f"the address needs more than {MAX_PRINTED_LINES} printed lines")
        return self

    def printed_lines(self) -> list[str]:
        printed = [*self.lines, f"{self.zip_code} {self.city}"]
        if self.country:
            printed.append(self.country)
        return printed


class ReturnAddress(BaseModel):
    """The sender (the authority): E-POST's ``senderAdressLine1``, ``senderStreet``, ``senderZipCode``,
    ``senderCity`` (the API spells "Adress"), and the return line on a generated cover page."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=80)
    street: str = Field(min_length=1, max_length=80)
    zip_code: str = Field(min_length=1, max_length=20)
    city: str = Field(min_length=1, max_length=80)

    def return_line(self) -> str:
        return f"{self.name} · {self.street} · {self.zip_code} {self.city}"

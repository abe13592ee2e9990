"""Where things are on page 1 of a letter for a DL window envelope (millimetres from the top-left
corner of an A4 page).

Sources (see README): DIN 5008 Form B address field 85 x 45 mm at 20 mm from the left and 45 mm
from the top, upper zone for the return address and notes 17.7 mm, recipient zone 27.3 mm below
(several consistent secondary sources; the norm is paywalled) [S+]; E-POST's overlay: return
line at most 8 mm high (45-53 mm), a 13 mm band 53-66 mm kept free for the franking it prints,
recipient lines 66-90 mm, 12 mm left margin on all pages (a software vendor's E-POST guide) [S].
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

MM = 72 / 25.4  # PostScript points per millimetre
A4_WIDTH_MM = 210.0
A4_HEIGHT_MM = 297.0


class WindowGeometry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    field_left: float = Field(20.0, ge=0, le=A4_WIDTH_MM)
    field_right: float = Field(105.0, ge=0, le=A4_WIDTH_MM)
    sender_top: float = Field(45.0, ge=0, le=A4_HEIGHT_MM)
    sender_bottom: float = Field(53.0, ge=0, le=A4_HEIGHT_MM)
    franking_bottom: float = Field(66.0, ge=0, le=A4_HEIGHT_MM, description="the band from sender_bottom to "
                                   "here stays empty (E-POST prints the franking there)")
    recipient_bottom: float = Field(90.0, ge=0, le=A4_HEIGHT_MM)
    left_margin: float = Field(12.0, ge=0, le=50, description="no text left of this on page 1")
    tolerance: float = Field(1.0, ge=0, le=5, description="DIN 680 window position tolerance")

    @property
    def recipient_top(self) -> float:
        return self.franking_bottom

    @model_validator(mode="after")
    def _ordered(self) -> WindowGeometry:
        if not (self.sender_top <= self.sender_bottom <= self.franking_bottom < self.recipient_bottom
                and self.field_left < self.field_right):
            raise ValueError("window zones must be ordered top to bottom and left to right")
        return self


EPOST_WINDOW = WindowGeometry()
# Plain DIN 5008 Form B: notes zone 45-62.7 mm, recipient zone 62.7-90 mm, no franking band.
DIN_5008_FORM_B = WindowGeometry(sender_bottom=62.7, franking_bottom=62.7)

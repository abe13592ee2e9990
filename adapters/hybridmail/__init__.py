"""Hybrid mail (Deutsche Post E-POSTBUSINESS API): decision PDFs printed and posted.

Public API (see README.md): :class:`HybridMailSender` (``send``, ``send_many``, ``follow``),
:class:`LetterJob`, :class:`LetterDelivery`, :class:`BulkResult`, :class:`PostalAddress`,
:class:`EPostOptions`, :class:`DeliveryState`, :class:`EPostClient` and the errors of
:mod:`adapters.hybridmail.errors`.
"""

from adapters.hybridmail.address import PostalAddress, ReturnAddress
from adapters.hybridmail.client import EPostClient
from adapters.hybridmail.errors import (
    AddressMismatch,
    EPostAccountUnusable,
    EPostUnavailable,
    InvalidAddress,
    InvalidDocument,
    LetterRejected,
    UnknownLetter,
)
from adapters.hybridmail.geometry import DIN_5008_FORM_B, EPOST_WINDOW, WindowGeometry
from adapters.hybridmail.options import EPostOptions, PdfLimits
from adapters.hybridmail.prepare import PreparedLetter, prepare_letter
from adapters.hybridmail.sender import BulkResult, HybridMailSender, LetterDelivery, LetterJob
from adapters.hybridmail.status import DeliveryState, delivery_state, is_final

__all__ = [
    "DIN_5008_FORM_B",
    "EPOST_WINDOW",
    "AddressMismatch",
    "BulkResult",
    "DeliveryState",
    "EPostAccountUnusable",
    "EPostClient",
    "EPostOptions",
    "EPostUnavailable",
    "HybridMailSender",
    "InvalidAddress",
    "InvalidDocument",
    "LetterDelivery",
    "LetterJob",
    "LetterRejected",
    "PdfLimits",
    "PostalAddress",
    "PreparedLetter",
    "ReturnAddress",
    "UnknownLetter",
    "WindowGeometry",
    "delivery_state",
    "is_final",
    "prepare_letter",
]

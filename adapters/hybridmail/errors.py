"""Hybrid-mail (E-POSTBUSINESS API) errors, mapped onto the gateway's hierarchy.

::

    TransientError
    ├── EPostAccountUnusable   login refused (401/403 to POST /api/Login): vendorID, EKP, secret or
    │                          password wrong or the interface not activated - an admin must act,
    │                          the letter itself is fine
    └── UpstreamUnavailable
        └── EPostUnavailable   network, timeout, HTTP 5xx, 429 (polled too often; ``retry_after``),
                               maintenance announced by the health check
    PermanentError
    ├── LetterRejected         the API refused the upload (HTTP 400/409/413/415/422 with its error
    │                          object) or reports the letter failed (statusID 99)
    ├── UnknownLetter          404 for a letter id
    └── InvalidPayload
        ├── InvalidDocument    not a PDF, encrypted, unreadable, not A4 portrait, too large, too many pages
        ├── InvalidAddress     the recipient address cannot be a letter address (fields, lengths, lines, glyphs)
        └── AddressMismatch    page 1 shows an address in the window that is not the recipient's

Details carry the API's error ``code`` (e.g. ``E324``) but never its free-text description, which
may repeat address data.
"""

from __future__ import annotations

from gateway.errors import InvalidPayload, PermanentError, TransientError, UpstreamUnavailable


class EPostAccountUnusable(TransientError):
    slug = "epost-account-unusable"
    title = "The E-POST account cannot log in"


class EPostUnavailable(UpstreamUnavailable):
    slug = "epost-unavailable"
    title = "The E-POST API is not reachable or asked to wait"


class LetterRejected(PermanentError):
    slug = "letter-rejected"
    title = "E-POST rejected the letter"


class UnknownLetter(PermanentError):
    slug = "unknown-letter"
    title = "E-POST does not know this letter"
    status = 404


class InvalidDocument(InvalidPayload):
    slug = "invalid-letter-document"
    title = "The document cannot be sent as a letter"


class InvalidAddress(InvalidPayload):
    slug = "invalid-postal-address"
    title = "The postal address cannot be used for a letter"


class AddressMismatch(InvalidPayload):
    slug = "letter-address-mismatch"
    title = "The document's address field does not show the recipient's address"

"""Attributes by their ``Name`` (an OID URN), never by ``FriendlyName``; trust levels in the
spellings the identity providers use; values normalised to NFC, control characters refused.

Trust levels (eIDAS: niedrig, substantiell, hoch):

=====================================  ==============
value seen                             trust level
=====================================  ==============
STORK-QAA-Level-1, STORK-QAA-Level-2   niedrig
STORK-QAA-Level-3                      substantiell
STORK-QAA-Level-4                      hoch
Basisregistrierung, Niedrig            niedrig
Substantiell                           substantiell
Hoch                                   hoch
UNTERGEORDNET, NORMAL                  niedrig
SUBSTANTIELL                           substantiell
HOCH                                   hoch
=====================================  ==============

The second spelling (``NORMAL``/``UNTERGEORDNET``/``HOCH``, as ``akdb:TrustLevel`` on each
attribute) follows the BundID simulator and the Keycloak BundID extension of the Bundesagentur
für Arbeit, which map ``UNTERGEORDNET`` to STORK level 1, ``NORMAL`` to 2, ``SUBSTANTIELL`` to 3
and ``HOCH`` to 4 (see README.md, "Sources"). Comparison is case-insensitive.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

from gateway.case.model import TrustLevel
from gateway.identity import LoginRejected

GIVEN_NAME: Final = "urn:oid:2.5.4.42"
SURNAME: Final = "urn:oid:2.5.4.4"
MAIL: Final = "urn:oid:0.9.2342.19200300.100.1.3"
POSTAL_ADDRESS: Final = "urn:oid:2.5.4.16"
POSTAL_CODE: Final = "urn:oid:2.5.4.17"
LOCALITY: Final = "urn:oid:2.5.4.7"
COUNTRY: Final = "urn:oid:1.2.40.0.10.2.1.1.225599"
BIRTH_DATE: Final = "urn:oid:1.2.40.0.10.2.1.1.55"
PLACE_OF_BIRTH: Final = "urn:oid:1.3.6.1.5.5.7.9.2"
BPK2: Final = "urn:oid:1.3.6.1.4.1.25484.494450.3"
TRUST_LEVEL: Final = "urn:oid:1.2.40.0.10.2.1.1.261.94"
ASSERTION_PROVED_BY: Final = "urn:oid:1.3.6.1.4.1.25484.494450.2"
POSTBOX_HANDLE: Final = "urn:oid:2.5.4.18"
# Organisation attributes for Mein Unternehmenskonto: the X.500 organizationName. MUK's own
# attribute list could not be verified from published sources; further organisation
# attributes are configured per identity provider (``extra_attributes``).
ORGANISATION_NAME: Final = "urn:oid:2.5.4.10"

SHORT_NAMES: Final[dict[str, str]] = {
    GIVEN_NAME: "given_name", SURNAME: "family_name", MAIL: "email", POSTAL_ADDRESS: "postal_address",
    POSTAL_CODE: "postal_code", LOCALITY: "locality", COUNTRY: "country", BIRTH_DATE: "birth_date",
    PLACE_OF_BIRTH: "place_of_birth", BPK2: "bpk2", TRUST_LEVEL: "trust_level",
    ASSERTION_PROVED_BY: "proved_by", POSTBOX_HANDLE: "postbox_handle", ORGANISATION_NAME: "organisation_name",
}

_LEVELS: Final[dict[str, TrustLevel]] = {
    "stork-qaa-level-1": TrustLevel.NIEDRIG, "stork-qaa-level-2": TrustLevel.NIEDRIG,
    "stork-qaa-level-3": TrustLevel.SUBSTANTIELL, "stork-qaa-level-4": TrustLevel.HOCH,
    "basisregistrierung": TrustLevel.NIEDRIG, "niedrig": TrustLevel.NIEDRIG,
    "substantiell": TrustLevel.SUBSTANTIELL, "hoch": TrustLevel.HOCH,
    "untergeordnet": TrustLevel.NIEDRIG, "normal": TrustLevel.NIEDRIG,
}
STORK_FOR: Final[dict[TrustLevel, str]] = {
    TrustLevel.NIEDRIG: "STORK-QAA-Level-1", TrustLevel.SUBSTANTIELL: "STORK-QAA-Level-3",
    TrustLevel.HOCH: "STORK-QAA-Level-4",
}
MAX_VALUE_CHARS: Final = 1024
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# bidirectional overrides and isolates can make a value look like another one
_BIDI_CONTROLS: Final = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def trust_level(value: str) -> TrustLevel | None:
    """The trust level a STORK level or an attribute trust value stands for (None: unknown)."""
    return _LEVELS.get(value.strip().lower())


def clean(value: str, attribute: str) -> str:
    """``value`` in NFC; control characters and bidi overrides are refused, not stripped."""
    value = unicodedata.normalize("NFC", value)
    if len(value) > MAX_VALUE_CHARS:
        raise LoginRejected(f"attribute {attribute} is longer than {MAX_VALUE_CHARS} characters",
                            check="attribute-value")
    if any(unicodedata.category(ch) == "Cc" or ch in _BIDI_CONTROLS for ch in value):
        raise LoginRejected(f"attribute {attribute} contains control characters", check="attribute-value")
    return value


def postbox_handle(value: str) -> str:
    """The postbox handle is a UUID (a postbox reference, not the account's user key)."""
    if not _UUID.match(value):
        raise LoginRejected("the postbox handle (2.5.4.18) is not a UUID", check="attribute-value")
    return value.lower()

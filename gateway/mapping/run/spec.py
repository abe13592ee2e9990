"""The typed, compiled form of a mapping file: what loading produces and the engine walks.

Everything the engine needs per submission is prepared when the mapping loads
(gateway.mapping.load): paths compiled, expressions compiled, constants and defaults
converted, code lists resolved.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from gateway.mapping.run.dates import Parser
from gateway.mapping.run.expressions import Expression
from gateway.mapping.run.paths import Accessor
from gateway.mapping.run.schemas import SchemaValidator

TEXT_TYPES: Final = ("string", "text", "code")
PARTY_KINDS: Final = ("natural_person", "organisation")
REPLY_KINDS: Final = ("email", "demail", "fink", "elster", "fitconnect", "postbox", "xta", "post")
# What each section of the case model can hold: attribute -> allowed value types, the first
# being the default; nested models use dotted names (see NESTED).
Catalogue = dict[str, tuple[str, ...]]
PERSON: Final[Catalogue] = {
    "given_names": TEXT_TYPES,
    "family_name": TEXT_TYPES,
    "birth_name": TEXT_TYPES,
    "title": TEXT_TYPES,
    "birth_date": ("date",),
    "birth_place": TEXT_TYPES,
}
ORGANISATION: Final[Catalogue] = {
    "name": TEXT_TYPES,
    "legal_form": TEXT_TYPES,
    "register_number": TEXT_TYPES,
    "contact_person": TEXT_TYPES,
}
NESTED: Final = {
    "address": ("street", "house_number", "postal_code", "city", "addition", "country"),
    "contact": ("email", "phone"),
}
PARTY_ATTRIBUTES: Final[dict[str, Catalogue]] = {"natural_person": PERSON, "organisation": ORGANISATION}
PAYMENT: Final[Catalogue] = {
    "status": TEXT_TYPES,
    "amount": ("decimal", "integer"),
    "method": TEXT_TYPES,
    "currency": TEXT_TYPES,
    "transaction_id": TEXT_TYPES,
    "reference": TEXT_TYPES,
}
REPLY: Final[Catalogue] = {"kind": TEXT_TYPES, "address": TEXT_TYPES}
MODEL_REQUIRED: Final = {
    "natural_person": ("given_names", "family_name"),
    "organisation": ("name",),
    "payment": ("status",),
    "reply_channel": ("kind", "address"),
}


@dataclass(frozen=True, slots=True)
class CodeList:
    name: str
    codes: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class ValueSpec:
    """One value with exactly one source: a path, a constant or an expression."""

    key: str  # dotted name used in errors, e.g. "weitere_hunde.name" or "applicant.family_name"
    type: str
    required: bool
    accessor: Accessor | None
    expression: Expression | None
    const: Any  # already converted; meaningful only without accessor and expression
    default: Any  # already converted; None when there is no default
    codelist: CodeList | None
    warn_unknown_code: bool
    parsers: tuple[Parser, ...]
    fim_id: str | None


@dataclass(frozen=True, slots=True)
class GroupSpec:
    accessor: Accessor | None  # None: a plain group reading from the enclosing context
    repeat: bool
    required: bool
    fields: tuple[FieldSpec, ...]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    key: str
    label: str
    type: str
    fim_id: str | None
    value: ValueSpec | None  # None exactly for groups
    group: GroupSpec | None


@dataclass(frozen=True, slots=True)
class SectionSpec:
    """Applicant, representative, payment or reply channel: flat attributes of one model.

    ``attributes`` uses dotted names for nested models ("address.street").
    """

    name: str
    present: Accessor | None
    kind: str | None  # a fixed party kind
    kind_value: ValueSpec | None  # or a value spec that yields the kind
    attributes: Mapping[str, ValueSpec]


@dataclass(frozen=True, slots=True)
class WarningSpec:
    when: Expression
    code: str
    field: str | None
    message: str


@dataclass(frozen=True, slots=True)
class SourceSpec:
    format: str
    media_type: str
    namespaces: Mapping[str, str]
    schema: SchemaValidator | None


@dataclass(frozen=True, slots=True)
class MappingSpec:
    id: str
    version: int
    title: str
    path: Path
    source: SourceSpec
    applicant: SectionSpec
    representative: SectionSpec | None
    submitted_at: ValueSpec | None
    payment: SectionSpec | None
    reply_channel: SectionSpec | None
    fields: tuple[FieldSpec, ...]
    warnings: tuple[WarningSpec, ...]

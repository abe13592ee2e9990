"""The typed, compiled form of a mapping file.

Everything the engine needs per submission is prepared here at load time: paths compiled,
expressions compiled, constants and defaults converted, code lists resolved.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.mapping.dates import Parser
from gateway.mapping.expressions import Expression
from gateway.mapping.leaf_groups import LeafGroupPlan, plan_leaf_group
from gateway.mapping.schemas import SchemaValidator
from gateway.mapping.sources import Accessor, XmlPath


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
    # some member is read by one plain XML child step: worth indexing the element's children
    index_children: bool = field(init=False)
    # every member is: the engine maps the group's elements by this plan (leaf_groups.py)
    plan: LeafGroupPlan | None = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "index_children", uses_child_steps(self.fields))
        # a group without path reads whatever encloses it, which need not be an element
        own_element = isinstance(self.accessor, XmlPath)
        object.__setattr__(self, "plan", plan_leaf_group(self.fields) if own_element else None)


@dataclass(frozen=True, slots=True)
class FieldSpec:
    key: str
    label: str
    type: str
    fim_id: str | None
    value: ValueSpec | None  # None exactly for groups
    group: GroupSpec | None


def uses_child_steps(fields: tuple[FieldSpec, ...]) -> bool:
    return any(spec.value is not None and spec.value.accessor is not None and spec.value.accessor.child_tag
               for spec in fields)


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

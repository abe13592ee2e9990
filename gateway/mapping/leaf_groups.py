"""The fast path for groups of XML leaves: every member is read by one plain child step.

Most XÖV groups look like that (``./w:F05000041``), and repeated ones (income entries,
household members) come with hundreds of repetitions. The general path (engine.map_fields)
pays per value for the spec's branches, the type dispatch of ``convert`` and a call of
``evaluate``; a plan prepared once when the mapping loads maps an item with one pass over its
children, a bound converter and a field template per member.

A plan maps only the ordinary item. One where a member's tag occurs twice, a member has
child elements, is missing though required, does not convert or has an unknown code is handed
back (None) to the general path, which then maps it, warns or refuses it exactly as it always
has, with the same path and message. So this module words no error and builds no location.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from gateway.case.model import Field, trusted_field
from gateway.mapping.common import ValueProblem
from gateway.mapping.conversions import text_converter
from gateway.mapping.sources import XmlPath

if TYPE_CHECKING:
    from gateway.mapping.spec import FieldSpec, ValueSpec


class _Member(NamedTuple):
    slot: int  # where map_item keeps the member's element (members with the same path share it)
    key: str
    convert: Callable[[str], Any] | None  # None: the text is the value
    codes: Mapping[str, str] | None
    if_missing: tuple[Any, str | None] | None  # value and label; None: only the general path may decide
    template: dict[str, Any]  # the Field's attributes but value and code label, in Field's order


@dataclass(frozen=True, slots=True)
class LeafGroupPlan:
    members: tuple[_Member, ...]
    slots: Mapping[str, int]  # a member's tag (Clark notation, as lxml reports it) -> its slot

    def map_item(self, element: Any) -> tuple[list[Field], dict[str, Any]] | None:
        """The fields and scope of one group element (lxml), or None: map it the general way."""
        slots = self.slots
        found: list[Any] = [None] * len(slots)
        for child in element:
            slot = slots.get(child.tag)
            if slot is not None:
                if found[slot] is not None:
                    return None  # the general path counts the nodes and names the path
                found[slot] = child
        fields: list[Field] = []
        scope: dict[str, Any] = {}
        try:
            for slot, key, convert, codes, if_missing, template in self.members:
                child = found[slot]
                if child is None:
                    text = None
                elif len(child):
                    return None  # XPath string() of an element with children
                else:
                    text = child.text
                    if text is not None:
                        text = text.strip()
                if text:
                    value: Any = text if convert is None else convert(text)
                    label = None
                    if codes is not None:
                        label = codes.get(value)
                        if label is None:
                            return None
                elif if_missing is None:
                    return None
                else:
                    value, label = if_missing
                values = template.copy()
                values["value"] = value
                values["code_label"] = label
                fields.append(trusted_field(values))
                scope[key] = value
        except ValueProblem:
            return None
        return fields, scope


def plan_leaf_group(fields: tuple[FieldSpec, ...]) -> LeafGroupPlan | None:
    """A plan when every member is a value read by one plain XML child step, else None."""
    members: list[_Member] = []
    slots: dict[str, int] = {}
    for spec in fields:
        value = spec.value
        if value is None or not isinstance(value.accessor, XmlPath) or value.accessor.child_tag is None:
            return None
        codelist = value.codelist
        codes = codelist.codes if codelist is not None else None
        template = {
            "key": spec.key, "label": spec.label, "type": spec.type, "fim_id": spec.fim_id, "value": None,
            "code_list": codelist.name if codelist is not None else None, "code_label": None, "repeated": False,
            "items": None,
        }
        slot = slots.setdefault(value.accessor.child_tag, len(slots))
        converter = text_converter(value.type, value.parsers)
        members.append(_Member(slot, spec.key, converter, codes, _if_missing(value, codes), template))
    return LeafGroupPlan(tuple(members), slots)


def _if_missing(value: ValueSpec, codes: Mapping[str, str] | None) -> tuple[Any, str | None] | None:
    if value.required and value.default is None:
        return None  # the general path refuses the item
    if codes is None or value.default is None:
        return value.default, None
    label = codes.get(value.default)  # the loader has checked that a default is in the code list
    return None if label is None else (value.default, label)

"""Applying a compiled mapping to a parsed document.

The hot path of every submission: no parsing of paths or expressions happens here, only
walking the precompiled spec. Errors name the field key and the source path, never a value.
Groups of XML leaves have a plan (leaf_groups.py) that maps their elements faster; whatever
such a plan cannot map exactly, it leaves to the general path here.
"""

from __future__ import annotations

from typing import Any

from gateway.case.model import Field, ValidationWarning, trusted_field
from gateway.errors import MappingFailed
from gateway.mapping.common import MISSING, ValueProblem
from gateway.mapping.expr_runtime import ExpressionError
from gateway.mapping.result import MappedApplication
from gateway.mapping.sections import map_party, map_section
from gateway.mapping.sources import child_index
from gateway.mapping.spec import FieldSpec, MappingSpec, uses_child_steps
from gateway.mapping.values import evaluate


def map_document(spec: MappingSpec, document: Any) -> MappedApplication:
    warnings: list[ValidationWarning] = []
    form, scope = map_fields(spec.fields, document, "", "", warnings, uses_child_steps(spec.fields))
    party = map_party(spec.applicant, document, scope, warnings)
    assert party is not None  # the applicant has no 'present' and its required names are checked
    submitted_at = evaluate(spec.submitted_at, document, scope, "", warnings)[0] if spec.submitted_at else None
    for rule in spec.warnings:
        try:
            fired = bool(rule.when.evaluate(scope))
        except ExpressionError:
            # A broken check must not refuse a citizen's application; the case worker is told instead.
            warnings.append(
                ValidationWarning(
                    code="rule-failed",
                    field=rule.field,
                    message=f"Prüfregel '{rule.code}' konnte nicht ausgewertet werden.",
                )
            )
            continue
        if fired:
            warnings.append(ValidationWarning(code=rule.code, field=rule.field, message=rule.message))
    return MappedApplication(
        party=party,
        representative=map_party(spec.representative, document, scope, warnings) if spec.representative else None,
        form=form,
        warnings=warnings,
        submitted_at=submitted_at,
        payment=map_section(spec.payment, document, scope, warnings) if spec.payment else None,
        reply_channel=map_section(spec.reply_channel, document, scope, warnings) if spec.reply_channel else None,
    )


def map_fields(
    specs: tuple[FieldSpec, ...], context: Any, base: str, prefix: str, warnings: list[ValidationWarning],
    index_children: bool,
) -> tuple[list[Field], dict[str, Any]]:
    """Fields of one scope, and the scope (key -> value) that expressions see."""
    form: list[Field] = []
    scope: dict[str, Any] = {}
    children = child_index(context) if index_children else None
    for spec in specs:
        value_spec = spec.value
        if value_spec is not None:
            value, label = evaluate(value_spec, context, scope, base, warnings, children)
            codelist = value_spec.codelist
            # valid by construction (see trusted_field): keys, labels and FIM ids were checked
            # when the mapping was loaded, values come from the typed converters
            form.append(trusted_field({
                "key": spec.key, "label": spec.label, "type": spec.type, "fim_id": spec.fim_id, "value": value,
                "code_list": codelist.name if codelist else None, "code_label": label, "repeated": False,
                "items": None}))
            scope[spec.key] = value
        else:
            field, scope[spec.key] = _map_group(spec, context, base, prefix, warnings)
            form.append(field)
    return form, scope


def _map_group(
    spec: FieldSpec, context: Any, base: str, prefix: str, warnings: list[ValidationWarning]
) -> tuple[Field, Any]:
    """A group field, and what expressions see of it: a dict, a list of dicts, or None."""
    group = spec.group
    assert group is not None
    key, accessor = prefix + spec.key, group.accessor
    where = accessor.location(base) if accessor else base or "/"
    field = trusted_field({"key": spec.key, "label": spec.label, "type": "group", "fim_id": spec.fim_id,
                           "value": None, "code_list": None, "code_label": None, "repeated": group.repeat,
                           "items": None})
    try:
        if accessor is None:
            element, element_base = context, base  # a plain group reads the enclosing context
        elif group.repeat:
            return _map_repetitions(field, accessor.nodes(context), spec, key, base, warnings)
        else:
            element, element_base = accessor.node(context), where
    except ValueProblem as exc:
        raise MappingFailed(f"group {key!r} at {where}: {exc}", field=key, path=where) from None
    if element is MISSING:
        if group.required:
            raise MappingFailed(f"required group {key!r} is missing at {where}", field=key, path=where)
        return field, None
    mapped = group.plan.map_item(element) if group.plan is not None else None
    if mapped is None:
        mapped = map_fields(group.fields, element, element_base, f"{key}.", warnings, group.index_children)
    fields, item_scope = mapped
    field.items = [fields]
    return field, item_scope


def _map_repetitions(
    field: Field, elements: list[Any], spec: FieldSpec, key: str, base: str, warnings: list[ValidationWarning]
) -> tuple[Field, list[dict[str, Any]]]:
    group = spec.group
    assert group is not None and group.accessor is not None
    if not elements and group.required:
        where = group.accessor.location(base)
        raise MappingFailed(f"required group {key!r} has no entries at {where}", field=key, path=where)
    items, scopes = [], []
    plan, prefix = group.plan, f"{key}."
    for index, element in enumerate(elements):
        mapped = plan.map_item(element) if plan is not None else None
        if mapped is None:
            # no plan for this group, or an item that only the general path maps, warns about or refuses
            # exactly (the location is built here only, for its error messages)
            location = group.accessor.item_location(base, index)
            mapped = map_fields(group.fields, element, location, prefix, warnings, group.index_children)
        fields, item_scope = mapped
        items.append(fields)
        scopes.append(item_scope)
    field.items = items
    return field, scopes

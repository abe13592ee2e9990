"""Applying a compiled mapping to a parsed document.

Runs for every submission: no parsing of paths or expressions happens here, only walking
the precompiled spec. Errors name the field key and the source path, never a value.

Form fields are collected as plain data and validated by the case model once, when the
result is built: one pass of pydantic over the whole form instead of one call per field.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from gateway.case.model import ValidationWarning
from gateway.errors import MappingFailed
from gateway.mapping.run.common import MISSING, ValueProblem
from gateway.mapping.run.expressions import ExpressionError
from gateway.mapping.run.result import MappedApplication
from gateway.mapping.run.sections import map_party, map_section
from gateway.mapping.run.spec import FieldSpec, MappingSpec
from gateway.mapping.run.values import evaluate

FieldData = dict[str, Any]  # the attributes of one gateway.case.model.Field


def map_document(spec: MappingSpec, document: Any) -> MappedApplication:
    warnings: list[ValidationWarning] = []
    form, scope = map_fields(spec.fields, document, "", "", warnings)
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
    representative = map_party(spec.representative, document, scope, warnings) if spec.representative else None
    payment = map_section(spec.payment, document, scope, warnings) if spec.payment else None
    reply_channel = map_section(spec.reply_channel, document, scope, warnings) if spec.reply_channel else None
    try:
        return MappedApplication(
            party=party,
            representative=representative,
            form=form,
            warnings=warnings,
            submitted_at=submitted_at,
            payment=payment,
            reply_channel=reply_channel,
        )
    except ValidationError as exc:
        # The case model refuses what the converters let through: say where, never the value.
        where = ".".join(str(part) for part in exc.errors(include_input=False)[0]["loc"])
        raise MappingFailed(f"the mapped application is not a valid case part at {where}", path=where) from None


def map_fields(
    specs: tuple[FieldSpec, ...], context: Any, base: str, prefix: str, warnings: list[ValidationWarning]
) -> tuple[list[FieldData], dict[str, Any]]:
    """Fields of one scope, and the scope (key -> value) that expressions see."""
    form: list[FieldData] = []
    scope: dict[str, Any] = {}
    for spec in specs:
        value_spec = spec.value
        if value_spec is not None:
            value, label = evaluate(value_spec, context, scope, base, warnings)
            codelist = value_spec.codelist
            form.append({
                "key": spec.key, "label": spec.label, "type": spec.type, "fim_id": spec.fim_id, "value": value,
                "code_list": codelist.name if codelist else None, "code_label": label, "repeated": False,
                "items": None})
            scope[spec.key] = value
        else:
            field, scope[spec.key] = _map_group(spec, context, base, prefix, warnings)
            form.append(field)
    return form, scope


def _map_group(
    spec: FieldSpec, context: Any, base: str, prefix: str, warnings: list[ValidationWarning]
) -> tuple[FieldData, Any]:
    """A group field, and what expressions see of it: a dict, a list of dicts, or None."""
    group = spec.group
    assert group is not None
    key, accessor = prefix + spec.key, group.accessor
    where = accessor.location(base) if accessor else base or "/"
    field: FieldData = {"key": spec.key, "label": spec.label, "type": "group", "fim_id": spec.fim_id, "value": None,
                        "code_list": None, "code_label": None, "repeated": group.repeat, "items": None}
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
    fields, item_scope = map_fields(group.fields, element, element_base, f"{key}.", warnings)
    field["items"] = [fields]
    return field, item_scope


def _map_repetitions(
    field: FieldData, elements: list[Any], spec: FieldSpec, key: str, base: str, warnings: list[ValidationWarning]
) -> tuple[FieldData, list[dict[str, Any]]]:
    group = spec.group
    assert group is not None and group.accessor is not None
    if not elements and group.required:
        where = group.accessor.location(base)
        raise MappingFailed(f"required group {key!r} has no entries at {where}", field=key, path=where)
    items, scopes = [], []
    prefix = f"{key}."
    for index, element in enumerate(elements):
        fields, item_scope = map_fields(group.fields, element, group.accessor.item_location(base, index), prefix,
                                        warnings)
        items.append(fields)
        scopes.append(item_scope)
    field["items"] = items
    return field, scopes


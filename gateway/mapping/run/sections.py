"""Mapping the sections that become models of their own: parties, payment, reply channel.

Attributes with a code list yield the code's label here, since these models have no slot for
a code: that is how ``kind: {path: ..., codelist: ...}`` turns a portal's code into
``natural_person`` or ``organisation``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from gateway.case.model import NaturalPerson, Organisation, Payment, ReplyChannel, ValidationWarning
from gateway.errors import MappingFailed
from gateway.mapping.run.common import ValueProblem
from gateway.mapping.run.spec import MODEL_REQUIRED, PARTY_ATTRIBUTES, PARTY_KINDS, SectionSpec, ValueSpec
from gateway.mapping.run.values import evaluate

_MODELS: dict[str, type[BaseModel]] = {
    "natural_person": NaturalPerson,
    "organisation": Organisation,
    "payment": Payment,
    "reply_channel": ReplyChannel,
}


def map_party(
    spec: SectionSpec, document: Any, scope: dict[str, Any], warnings: list[ValidationWarning]
) -> NaturalPerson | Organisation | None:
    result = _map(spec, document, scope, warnings)
    assert result is None or isinstance(result, NaturalPerson | Organisation)
    return result


def map_section(spec: SectionSpec, document: Any, scope: dict[str, Any], warnings: list[ValidationWarning]) -> Any:
    return _map(spec, document, scope, warnings)


def _map(spec: SectionSpec, document: Any, scope: dict[str, Any], warnings: list[ValidationWarning]) -> Any:
    optional = spec.name != "applicant"
    if spec.present is not None:
        try:
            if not spec.present.present(document):
                return None
        except ValueProblem as exc:
            where = spec.present.location("")
            raise MappingFailed(f"{spec.name} at {where}: {exc}", field=spec.name, path=where) from None
    kind = spec.kind if spec.kind_value is None else _value(spec.kind_value, document, scope, warnings)
    relevant = PARTY_ATTRIBUTES.get(kind or "", {})
    values: dict[str, Any] = {}
    for name, value_spec in spec.attributes.items():
        party_only = name in PARTY_ATTRIBUTES["natural_person"] or name in PARTY_ATTRIBUTES["organisation"]
        if party_only and name not in relevant:
            continue
        value = _value(value_spec, document, scope, warnings)
        if value is not None:
            values[name] = value
    if optional and spec.present is None and not values and kind in (None, spec.kind):
        return None  # nothing of this section was filled in
    model = kind or spec.name
    if spec.kind_value is not None and kind not in PARTY_KINDS:
        where = _where(spec.kind_value)
        reason = "is missing" if kind is None else "is not natural_person or organisation"
        raise MappingFailed(f"{spec.name}.kind {reason} at {where}", field=f"{spec.name}.kind", path=where)
    for needed in MODEL_REQUIRED[model]:
        if needed not in values:
            where = _where(spec.attributes[needed])
            raise MappingFailed(
                f"required field '{spec.name}.{needed}' is missing at {where}",
                field=f"{spec.name}.{needed}",
                path=where,
            )
    return _build(_MODELS[model], values, spec.name)


def _value(spec: ValueSpec, document: Any, scope: dict[str, Any], warnings: list[ValidationWarning]) -> Any:
    value, label = evaluate(spec, document, scope, "", warnings)
    return label if label is not None else value


def _where(spec: ValueSpec) -> str:
    return spec.accessor.location("") if spec.accessor else "compute" if spec.expression else "const"


def _build(model: type[BaseModel], values: dict[str, Any], name: str) -> Any:
    data: dict[str, Any] = {}
    for dotted, value in values.items():
        parent, _, child = dotted.partition(".")
        if child:
            data.setdefault(parent, {})[child] = value
        else:
            data[dotted] = value
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # Pydantic's messages quote the input; report the locations only.
        locations = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors(include_input=False))
        raise MappingFailed(f"{name} is not valid: {locations}", field=name) from None

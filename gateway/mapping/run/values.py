"""Evaluating one value spec against the current context: the innermost step of mapping."""

from __future__ import annotations

from typing import Any

from gateway.case.model import ValidationWarning
from gateway.errors import MappingFailed
from gateway.mapping.run.common import MISSING, ValueProblem
from gateway.mapping.run.conversions import convert
from gateway.mapping.run.expressions import ExpressionError
from gateway.mapping.run.spec import ValueSpec


def _where(spec: ValueSpec, base: str) -> str:
    return spec.accessor.location(base) if spec.accessor else "compute" if spec.expression else "const"


def evaluate(
    spec: ValueSpec, context: Any, scope: dict[str, Any], base: str, warnings: list[ValidationWarning]
) -> tuple[Any, str | None]:
    """One value and, for codes, its label. A missing optional value is ``(None, None)``."""
    try:
        if spec.accessor is not None:
            raw = spec.accessor.scalar(context)
        elif spec.expression is not None:
            raw = spec.expression.evaluate(scope)
            raw = MISSING if raw is None or raw == "" else raw
        else:
            raw = MISSING if spec.const is None else spec.const
        if raw is MISSING:
            if spec.default is None and spec.required:
                where = _where(spec, base)
                raise MappingFailed(f"required field {spec.key!r} is missing at {where}", field=spec.key, path=where)
            value = spec.default
        else:
            value = convert(spec.type, raw, spec.parsers)
    except (ValueProblem, ExpressionError) as exc:
        where = _where(spec, base)
        raise MappingFailed(f"field {spec.key!r} at {where}: {exc}", field=spec.key, path=where) from None
    if spec.codelist is None or value is None:
        return value, None
    label = spec.codelist.codes.get(value)
    if label is None:
        where = _where(spec, base)
        message = f"field {spec.key!r} at {where}: code is not in code list {spec.codelist.name!r}"
        if not spec.warn_unknown_code:
            raise MappingFailed(message, field=spec.key, path=where)
        warnings.append(
            ValidationWarning(
                code="unknown-code",
                field=spec.key,
                message=f"Unbekannter Code (Codeliste '{spec.codelist.name}').",
            )
        )
    return value, label

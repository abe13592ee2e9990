"""Building applicant, representative, payment, reply channel and submission time."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from gateway.errors import ConfigurationError
from gateway.mapping.load.build_values import VALUE_KEYS, BuildContext, build_value, check_keys, expect_map
from gateway.mapping.load.expressions import NameInfo
from gateway.mapping.run.spec import (
    MODEL_REQUIRED,
    NESTED,
    PARTY_ATTRIBUTES,
    PARTY_KINDS,
    PAYMENT,
    REPLY,
    REPLY_KINDS,
    TEXT_TYPES,
    SectionSpec,
    ValueSpec,
)
from gateway.yamlfile import YamlMap


def build_party(
    value: Any, where: str, name: str, names: Mapping[str, NameInfo], ctx: BuildContext, optional: bool
) -> SectionSpec:
    node = expect_map(value, where, name)
    kinds, kind, kind_value = _kind(node, name, names, ctx)
    allowed: dict[str, Sequence[str]] = {}
    for k in kinds:
        allowed.update(PARTY_ATTRIBUTES[k])
    for group, members in NESTED.items():
        allowed.update({f"{group}.{m}": TEXT_TYPES for m in members})
    every = {a for k in PARTY_KINDS for a in PARTY_ATTRIBUTES[k]}
    for attribute in node:
        if attribute in every and attribute not in allowed:
            raise ConfigurationError(f"{node.where(attribute)}: {attribute!r} does not belong to a {kind}")
    attributes = _attributes(node, name, allowed, names, ctx, extra={"kind"} | ({"present"} if optional else set()))
    for k in kinds:
        for needed in MODEL_REQUIRED[k]:
            if needed not in attributes:
                raise ConfigurationError(f"{where}: {name} of kind {k} needs {needed!r}")
    return SectionSpec(name, _present(node, ctx), kind, kind_value, attributes)


def _kind(
    node: YamlMap, name: str, names: Mapping[str, NameInfo], ctx: BuildContext
) -> tuple[tuple[str, ...], str | None, ValueSpec | None]:
    raw = node.get("kind")
    if isinstance(raw, str) and raw in PARTY_KINDS:
        return (raw,), raw, None
    if not isinstance(raw, YamlMap):
        raise ConfigurationError(
            f"{node.where('kind')}: {name}.kind must be natural_person, organisation or a value spec"
        )
    check_keys(raw, VALUE_KEYS, f"{name}.kind")
    spec = build_value(raw, f"{name}.kind", names, ctx, types=TEXT_TYPES, default_type="string")
    _check_choices(spec, raw, PARTY_KINDS)
    return PARTY_KINDS, None, spec


def build_section(value: Any, where: str, name: str, names: Mapping[str, NameInfo], ctx: BuildContext) -> SectionSpec:
    """Payment or reply channel."""
    node = expect_map(value, where, name)
    catalogue = PAYMENT if name == "payment" else REPLY
    attributes = _attributes(node, name, catalogue, names, ctx, extra={"present"})
    for needed in MODEL_REQUIRED[name]:
        if needed not in attributes:
            raise ConfigurationError(f"{where}: {name} needs {needed!r}")
    if name == "reply_channel":
        _check_choices(attributes["kind"], node["kind"], REPLY_KINDS)
    return SectionSpec(name, _present(node, ctx), None, None, attributes)


def _attributes(
    node: YamlMap,
    name: str,
    allowed: Mapping[str, Sequence[str]],
    names: Mapping[str, NameInfo],
    ctx: BuildContext,
    extra: Collection[str],
) -> dict[str, ValueSpec]:
    top = {a.split(".")[0] for a in allowed} | set(extra)
    check_keys(node, top, name)
    attributes: dict[str, ValueSpec] = {}
    for attribute, types in allowed.items():
        parent, _, child = attribute.partition(".")
        holder: Any = node.get(parent)
        if child:
            if holder is None:
                continue
            holder = expect_map(holder, node.where(parent), f"{name}.{parent}")
            check_keys(holder, NESTED[parent], f"{name}.{parent}")
            where, holder = holder.where(child), holder.get(child)
        else:
            where = node.where(parent)
        if holder is None:
            continue
        spec_node = expect_map(holder, where, f"{name}.{attribute}")
        check_keys(spec_node, VALUE_KEYS, f"{name}.{attribute}")
        attributes[attribute] = build_value(
            spec_node, f"{name}.{attribute}", names, ctx, types=types, default_type=types[0]
        )
    return attributes


def _present(node: YamlMap, ctx: BuildContext) -> Any:
    # Only optional sections admit the key at all (checked with the other keys).
    return ctx.path(node["present"], node.where("present")) if "present" in node else None


def _check_choices(spec: ValueSpec, node: Any, choices: tuple[str, ...]) -> None:
    where = node.where() if isinstance(node, YamlMap) else "?"
    candidates = list(spec.codelist.codes.values()) if spec.codelist else []
    if spec.accessor is None and spec.expression is None and spec.codelist is None:
        candidates = [spec.const]
    for candidate in candidates:
        if candidate not in choices:
            raise ConfigurationError(
                f"{where}: {spec.key} can only be {', '.join(choices)} (code list or constant has {candidate!r})"
            )


def build_submitted_at(value: Any, where: str, names: Mapping[str, NameInfo], ctx: BuildContext) -> ValueSpec:
    node = expect_map(value, where, "submitted_at")
    check_keys(node, VALUE_KEYS, "submitted_at")
    return build_value(node, "submitted_at", names, ctx, types=("datetime",), default_type="datetime")

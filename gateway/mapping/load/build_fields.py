"""Building the ``fields`` list of a mapping: form fields and (repeated) groups."""

from __future__ import annotations

import re
from typing import Any, Final

from pydantic import ValidationError

from gateway.case.model import Field
from gateway.errors import ConfigurationError
from gateway.mapping.load.build_values import (
    VALUE_KEYS,
    BuildContext,
    build_value,
    check_keys,
    expect_list,
    expect_map,
    fim_id,
    flag,
    text,
)
from gateway.mapping.load.expressions import NameInfo
from gateway.mapping.run.conversions import VALUE_TYPES
from gateway.mapping.run.spec import FieldSpec, GroupSpec
from gateway.yamlfile import YamlMap

FIELD_KEY: Final = re.compile(r"[a-z][a-z0-9_]*")  # used with fullmatch: no "$" before a newline
_FIELD_KEYS: Final = VALUE_KEYS | {"key", "label"}
_GROUP_KEYS: Final = frozenset({"key", "label", "type", "path", "required", "repeat", "fields", "fim_id"})


def build_fields(
    value: Any, where: str, ctx: BuildContext, prefix: str = ""
) -> tuple[tuple[FieldSpec, ...], dict[str, NameInfo]]:
    """Fields of one scope, and what each key means to the expressions after it."""
    items = expect_list(value, where, "fields")
    if not items:
        raise ConfigurationError(f"{where}: fields must not be empty")
    fields: list[FieldSpec] = []
    names: dict[str, NameInfo] = {}
    for index, item in enumerate(items):
        node = expect_map(item, items.where(index), "a field")
        spec, info = _build_field(node, names, ctx, prefix)
        _check_case_field(spec, node)
        if spec.key in names:
            raise ConfigurationError(f"{node.where('key')}: duplicate field key {spec.key!r}")
        fields.append(spec)
        names[spec.key] = info
    return tuple(fields), names


def _check_case_field(spec: FieldSpec, node: YamlMap) -> None:
    """Whatever the case model would refuse of a field's fixed parts (key, label, type, FIM id)
    is refused here with ``file:line``, not on a citizen's submission."""
    try:
        Field(key=spec.key, label=spec.label, type=spec.type, fim_id=spec.fim_id)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise ConfigurationError(f"{node.where('key')}: field {spec.key!r}: {where}: {problem['msg']}") from None


def _build_field(
    node: YamlMap, names: dict[str, NameInfo], ctx: BuildContext, prefix: str
) -> tuple[FieldSpec, NameInfo]:
    key = text(node, "key", "field")
    assert key is not None
    if not FIELD_KEY.fullmatch(key):
        raise ConfigurationError(f"{node.where('key')}: field key {key!r} must match {FIELD_KEY.pattern}")
    label = text(node, "label", f"field {key!r}")
    assert label is not None
    if node.get("type") == "group" or "fields" in node:
        return _build_group(node, key, label, ctx, prefix)
    check_keys(node, _FIELD_KEYS, f"field {key!r}")
    value = build_value(node, prefix + key, names, ctx, types=VALUE_TYPES, default_type="string")
    return FieldSpec(key, label, value.type, value.fim_id, value, None), NameInfo()


def _build_group(node: YamlMap, key: str, label: str, ctx: BuildContext, prefix: str) -> tuple[FieldSpec, NameInfo]:
    check_keys(node, _GROUP_KEYS, f"group {key!r}")
    if node.get("type", "group") != "group" or "fields" not in node:
        raise ConfigurationError(f"{node.where('type')}: group {key!r} needs type: group and fields")
    repeat = flag(node, "repeat")
    if repeat and "path" not in node:
        raise ConfigurationError(f"{node.where('repeat')}: repeated group {key!r} needs a path")
    accessor = ctx.path(node["path"], node.where("path")) if "path" in node else None
    # Members see only their siblings: the same scope rule as top-level fields.
    fields, members = build_fields(node["fields"], node.where("fields"), ctx, f"{prefix}{key}.")
    group = GroupSpec(accessor, repeat, flag(node, "required"), fields)
    return FieldSpec(key, label, "group", fim_id(node), None, group), NameInfo(members, repeat)

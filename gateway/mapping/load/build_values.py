"""Building blocks of the mapping builder: shape checks and value specs.

Every check raises :class:`ConfigurationError` with the ``file:line`` of the offending key.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from gateway.errors import ConfigurationError
from gateway.mapping.load.expressions import NameInfo, compile_expression
from gateway.mapping.run.common import ValueProblem
from gateway.mapping.run.conversions import convert
from gateway.mapping.run.dates import DEFAULT_DATE_FORMATS, DEFAULT_DATETIME_FORMATS, Parser, compile_format
from gateway.mapping.run.paths import Accessor, JsonPath, XmlPath
from gateway.mapping.run.spec import CodeList, ValueSpec
from gateway.yamlfile import YamlList, YamlMap

VALUE_KEYS: Final = frozenset(
    {
        "path",
        "const",
        "compute",
        "type",
        "required",
        "codelist",
        "unknown_code",
        "formats",
        "fim_id",
        "default",
    }
)
FIM_ID: Final = re.compile(r"[FG][0-9]{8}")  # used with fullmatch: ASCII digits, no trailing newline
_SAMPLE: Final = dt.datetime(2026, 11, 21, 18, 30, 15)  # every field differs, so a bad format shows


@dataclass
class BuildContext:
    """What value specs of one mapping file need to know."""

    media_type: str
    namespaces: Mapping[str, str]
    codelists: dict[str, CodeList] = field(default_factory=dict)

    def path(self, text: Any, where: str) -> Accessor:
        try:
            if self.media_type == "application/json":
                return JsonPath(text)
            return XmlPath(text, self.namespaces)
        except ValueError as exc:
            raise ConfigurationError(f"{where}: {exc}") from None


def expect_map(value: Any, where: str, what: str) -> YamlMap:
    if not isinstance(value, YamlMap):
        raise ConfigurationError(f"{where}: {what} must be a mapping")
    return value


def expect_list(value: Any, where: str, what: str) -> YamlList:
    if not isinstance(value, YamlList):
        raise ConfigurationError(f"{where}: {what} must be a list")
    return value


def check_keys(node: YamlMap, allowed: Collection[str], what: str) -> None:
    for key in node:
        if key not in allowed:
            raise ConfigurationError(
                f"{node.where(key)}: unknown key {key!r} in {what} (allowed: {', '.join(sorted(allowed))})"
            )


def text(node: YamlMap, key: str, what: str, required: bool = True) -> str | None:
    value = node.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{node.where(key)}: {what} {key!r} must be a non-empty string")
    return value


def flag(node: YamlMap, key: str) -> bool:
    value = node.get(key, False)
    if not isinstance(value, bool):
        raise ConfigurationError(f"{node.where(key)}: {key!r} must be true or false")
    return value


def fim_id(node: YamlMap) -> str | None:
    value = node.get("fim_id")
    if value is not None and (not isinstance(value, str) or not FIM_ID.fullmatch(value)):
        raise ConfigurationError(f"{node.where('fim_id')}: fim_id must look like F12345678 or G12345678")
    return value


def _parsers(node: YamlMap, value_type: str) -> tuple[Parser, ...]:
    if "formats" not in node:
        defaults = DEFAULT_DATETIME_FORMATS if value_type == "datetime" else DEFAULT_DATE_FORMATS
        return tuple(compile_format(f) for f in defaults)
    where = node.where("formats")
    if value_type not in ("date", "datetime"):
        raise ConfigurationError(f"{where}: formats only apply to date and datetime values")
    formats = expect_list(node["formats"], where, "formats")
    parsers = []
    for index, fmt in enumerate(formats):
        try:
            parser = compile_format(fmt)
            # A format must read back what it writes, or it cannot be trusted with citizens' dates.
            if fmt != "iso" and parser(_SAMPLE.strftime(fmt)) is None:
                raise ValueError("it cannot read its own output")
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(f"{formats.where(index)}: bad date format {fmt!r}: {exc}") from None
        parsers.append(parser)
    if not parsers:
        raise ConfigurationError(f"{where}: formats must not be empty")
    return tuple(parsers)


def build_value(
    node: YamlMap,
    key: str,
    names: Mapping[str, NameInfo],
    ctx: BuildContext,
    *,
    types: Collection[str],
    default_type: str,
) -> ValueSpec:
    """A value spec from ``node`` (whose keys are already checked); ``key`` names it in errors."""
    sources = [s for s in ("path", "const", "compute") if s in node]
    if len(sources) != 1:
        found = ", ".join(sources) or "none"
        raise ConfigurationError(f"{node.where()}: {key!r} needs exactly one of path, const, compute (found: {found})")
    codelist = _codelist(node, ctx)
    value_type = node.get("type", "code" if codelist else default_type)
    if value_type not in types:
        raise ConfigurationError(f"{node.where('type')}: type of {key!r} must be one of {', '.join(sorted(types))}")
    if (value_type == "code") != (codelist is not None):
        raise ConfigurationError(f"{node.where('type')}: {key!r}: type code and codelist go together")
    unknown = node.get("unknown_code", "error")
    if unknown not in ("error", "warn") or ("unknown_code" in node and codelist is None):
        raise ConfigurationError(f"{node.where('unknown_code')}: unknown_code must be error or warn, with a codelist")
    parsers = _parsers(node, value_type)
    required = flag(node, "required")
    accessor = ctx.path(node["path"], node.where("path")) if "path" in node else None
    expression = compile_expression(node["compute"], names, node.where("compute")) if "compute" in node else None
    const = _constant(node, "const", value_type, parsers, codelist)
    default = _constant(node, "default", value_type, parsers, codelist)
    return ValueSpec(
        key,
        value_type,
        required,
        accessor,
        expression,
        const,
        default,
        codelist,
        unknown == "warn",
        parsers,
        fim_id(node),
    )


def _codelist(node: YamlMap, ctx: BuildContext) -> CodeList | None:
    name = node.get("codelist")
    if name is None:
        return None
    if not isinstance(name, str) or name not in ctx.codelists:
        known = ", ".join(sorted(ctx.codelists)) or "none"
        raise ConfigurationError(f"{node.where('codelist')}: unknown code list {name!r} (defined: {known})")
    return ctx.codelists[name]


def _constant(node: YamlMap, key: str, value_type: str, parsers: tuple[Parser, ...], codelist: CodeList | None) -> Any:
    if node.get(key) is None:
        return None
    try:
        value = convert(value_type, node[key], parsers)
    except ValueProblem as exc:
        raise ConfigurationError(f"{node.where(key)}: {key} does not fit type {value_type}: {exc}") from None
    if codelist is not None and value not in codelist.codes:
        raise ConfigurationError(f"{node.where(key)}: {key} {value!r} is not in code list {codelist.name!r}")
    return value

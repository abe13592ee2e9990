"""Building a :class:`MappingSpec` from one parsed mapping file (see mappings/README.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from gateway.errors import ConfigurationError
from gateway.mapping.load.build_fields import build_fields
from gateway.mapping.load.build_sections import build_party, build_section, build_submitted_at
from gateway.mapping.load.build_values import BuildContext, check_keys, expect_list, expect_map, text
from gateway.mapping.load.expressions import NameInfo, compile_expression
from gateway.mapping.load.schemas import SchemaCache
from gateway.mapping.run.spec import CodeList, MappingSpec, SourceSpec, WarningSpec
from gateway.yamlfile import YamlMap, load_yaml

MAPPING_ID: Final = re.compile(r"^[a-z][a-z0-9]*(?:[.-][a-z0-9]+)*$")
_NAME: Final = re.compile(r"^[a-z][a-z0-9_-]*$")
_WARNING_CODE: Final = re.compile(r"^[a-z][a-z0-9-]*$")
_TOP: Final = frozenset(
    {
        "id",
        "version",
        "title",
        "source",
        "codelists",
        "applicant",
        "representative",
        "submitted_at",
        "payment",
        "reply_channel",
        "fields",
        "warnings",
    }
)
_SOURCE: Final = frozenset({"format", "media_type", "namespaces", "schema"})
MEDIA_TYPES: Final = ("application/json", "application/xml")


@dataclass
class LoadEnvironment:
    """Shared by all mapping files of one registry load, so shared files are read once."""

    mappings_root: Path
    schemas: SchemaCache
    codelist_files: dict[Path, dict[str, str]] = field(default_factory=dict)

    def display(self, path: Path) -> str:
        base = self.mappings_root.parent
        return str(path.relative_to(base)) if path.is_relative_to(base) else str(path)


def build_mapping(path: Path, env: LoadEnvironment) -> MappingSpec:
    node = expect_map(load_yaml(path, env.display(path)).data, f"{env.display(path)}:1", "a mapping file")
    check_keys(node, _TOP, "the mapping")
    for needed in ("id", "version", "title", "source", "applicant", "fields"):
        if needed not in node:
            raise ConfigurationError(f"{node.where()}: the mapping needs {needed!r}")
    mapping_id = text(node, "id", "mapping")
    assert mapping_id is not None
    if not MAPPING_ID.match(mapping_id):
        raise ConfigurationError(f"{node.where('id')}: id {mapping_id!r} must look like portal.hund-anmelden")
    version = node["version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ConfigurationError(f"{node.where('version')}: version must be a positive integer")
    source, ctx = _source(node, env)
    ctx.codelists.update(_codelists(node, env))
    fields, names = build_fields(node["fields"], node.where("fields"), ctx)
    optional = {k: node.get(k) for k in ("representative", "submitted_at", "payment", "reply_channel")}
    return MappingSpec(
        id=mapping_id,
        version=version,
        title=str(text(node, "title", "mapping")),
        path=path,
        source=source,
        applicant=build_party(node["applicant"], node.where("applicant"), "applicant", names, ctx, False),
        representative=None
        if optional["representative"] is None
        else build_party(optional["representative"], node.where("representative"), "representative", names, ctx, True),
        submitted_at=None
        if optional["submitted_at"] is None
        else build_submitted_at(optional["submitted_at"], node.where("submitted_at"), names, ctx),
        payment=None
        if optional["payment"] is None
        else build_section(optional["payment"], node.where("payment"), "payment", names, ctx),
        reply_channel=None
        if optional["reply_channel"] is None
        else build_section(optional["reply_channel"], node.where("reply_channel"), "reply_channel", names, ctx),
        fields=fields,
        warnings=_warnings(node, names),
    )


def _source(node: YamlMap, env: LoadEnvironment) -> tuple[SourceSpec, BuildContext]:
    source = expect_map(node["source"], node.where("source"), "source")
    check_keys(source, _SOURCE, "source")
    source_format = text(source, "format", "source")
    media_type = source.get("media_type")
    if media_type not in MEDIA_TYPES:
        raise ConfigurationError(f"{source.where('media_type')}: media_type must be one of {', '.join(MEDIA_TYPES)}")
    namespaces = expect_map(source.get("namespaces") or YamlMap(source.file, source.line), source.where(), "namespaces")
    if namespaces and media_type != "application/xml":
        raise ConfigurationError(f"{source.where('namespaces')}: namespaces only apply to XML sources")
    for prefix, uri in namespaces.items():
        if not _NAME.match(prefix) or not isinstance(uri, str) or not uri:
            raise ConfigurationError(f"{namespaces.where(prefix)}: namespace {prefix!r} needs a prefix and a URI")
    schema = None
    if source.get("schema") is not None:
        schema = env.schemas.get(source["schema"], media_type, source.where("schema"))
    ctx = BuildContext(media_type, dict(namespaces))
    return SourceSpec(str(source_format), media_type, dict(namespaces), schema), ctx


def _codelists(node: YamlMap, env: LoadEnvironment) -> dict[str, CodeList]:
    lists = expect_map(node.get("codelists") or YamlMap(node.file, node.line), node.where("codelists"), "codelists")
    result: dict[str, CodeList] = {}
    for name, body in lists.items():
        where = lists.where(name)
        if not _NAME.match(name):
            raise ConfigurationError(f"{where}: code list name {name!r} must match {_NAME.pattern}")
        body = expect_map(body, where, f"code list {name!r}")
        # {file: ...} alone refers to a shared list; anything else is an inline list.
        shared = list(body) == ["file"]
        result[name] = CodeList(name, _codelist_file(body, env) if shared else _codes(body, f"code list {name!r}"))
    return result


def _codelist_file(body: YamlMap, env: LoadEnvironment) -> dict[str, str]:
    root = env.mappings_root.resolve()
    path = (root / str(body["file"])).resolve()
    if not path.is_relative_to(root / "codelists") or path.suffix != ".yaml":
        raise ConfigurationError(f"{body.where('file')}: code list files live in codelists/*.yaml")
    if not path.is_file():
        raise ConfigurationError(f"{body.where('file')}: code list file {body['file']!r} not found")
    if path not in env.codelist_files:
        display = env.display(path)
        env.codelist_files[path] = _codes(
            expect_map(load_yaml(path, display).data, f"{display}:1", "a code list"), "code list"
        )
    return env.codelist_files[path]


def _codes(body: YamlMap, what: str) -> dict[str, str]:
    if not body:
        raise ConfigurationError(f"{body.where()}: {what} is empty")
    for code, label in body.items():
        if not isinstance(label, str) or not label.strip():
            raise ConfigurationError(f"{body.where(code)}: label of code {code!r} must be a non-empty string")
    return dict(body)


def _warnings(node: YamlMap, names: dict[str, NameInfo]) -> tuple[WarningSpec, ...]:
    if node.get("warnings") is None:
        return ()
    items = expect_list(node["warnings"], node.where("warnings"), "warnings")
    result = []
    for index, item in enumerate(items):
        rule = expect_map(item, items.where(index), "a warning")
        check_keys(rule, {"when", "code", "field", "message"}, "a warning")
        code, message = text(rule, "code", "warning"), text(rule, "message", "warning")
        if not _WARNING_CODE.match(str(code)):
            raise ConfigurationError(f"{rule.where('code')}: warning code {code!r} must match {_WARNING_CODE.pattern}")
        target = text(rule, "field", "warning", required=False)
        if target is not None and not _known(target, names):
            raise ConfigurationError(f"{rule.where('field')}: warning names unknown field {target!r}")
        if "when" not in rule:
            raise ConfigurationError(f"{rule.where()}: a warning needs 'when'")
        when = compile_expression(rule["when"], names, rule.where("when"))
        result.append(WarningSpec(when, str(code), target, str(message)))
    return tuple(result)


def _known(dotted: str, names: dict[str, NameInfo]) -> bool:
    scope: Any = names
    for part in dotted.split("."):
        info = scope.get(part) if scope is not None else None
        if info is None:
            return False
        scope = info.members
    return True

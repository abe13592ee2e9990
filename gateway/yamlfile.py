"""The project's one YAML loader: catalogs, mappings, code lists, demo configuration.

Parsed by ruamel.yaml (YAML 1.2, its safe constructor, pure Python) with our limits on top:

- every error names ``file:line``, and so can every caller: mappings and lists come back as
  :class:`YamlMap` / :class:`YamlList`, which remember the line of each key and each item;
- duplicate keys are refused (a silently kept last value hides copy-and-paste errors in long
  forms), and keys must be strings (YAML reads ``01`` as the number 1: codes must be quoted);
- plain data only: no tags beyond YAML's own scalar types, no sets, pairs or binary values;
- no anchors or aliases, so a small file cannot expand into a huge structure ("billion
  laughs"); at most :data:`MAX_YAML_BYTES` bytes and :data:`MAX_DEPTH` levels of nesting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer, ComposerError, MaxDepthExceededError
from ruamel.yaml.constructor import SafeConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, SequenceNode

from gateway.errors import ConfigurationError

MAX_YAML_BYTES: Final = 2 * 1024 * 1024
MAX_DEPTH: Final = 64
_MAP_TAG: Final = "tag:yaml.org,2002:map"
_SEQ_TAG: Final = "tag:yaml.org,2002:seq"
_REFUSED_TAGS: Final = ("set", "omap", "pairs", "binary", "merge")


class YamlMap(dict[str, Any]):
    """A YAML mapping that knows its file, its own line and the line of each key."""

    def __init__(self, file: str, line: int) -> None:
        super().__init__()
        self.file = file
        self.line = line
        self.key_lines: dict[str, int] = {}

    def where(self, key: str | None = None) -> str:
        line = self.key_lines.get(key, self.line) if key is not None else self.line
        return f"{self.file}:{line}"


class YamlList(list[Any]):
    """A YAML sequence that knows its file, its own line and the line of each item."""

    def __init__(self, file: str, line: int) -> None:
        super().__init__()
        self.file = file
        self.line = line
        self.item_lines: list[int] = []

    def where(self, index: int | None = None) -> str:
        line = self.item_lines[index] if index is not None else self.line
        return f"{self.file}:{line}"


@dataclass(frozen=True)
class YamlDocument:
    path: Path
    display: str  # what error messages call the file
    data: Any

    def line_of(self, location: Sequence[str | int]) -> int:
        """1-based line of the key or item at ``location`` (keys and list indexes), or of its
        deepest existing ancestor when the location does not exist (a missing key)."""
        node, line = self.data, getattr(self.data, "line", 1)
        for part in location:
            if isinstance(node, YamlMap) and isinstance(part, str) and part in node:
                node, line = node[part], node.key_lines[part]
            elif isinstance(node, YamlList) and isinstance(part, int) and 0 <= part < len(node):
                node, line = node[part], node.item_lines[part]
            else:
                break
        return line

    def error(self, location: Sequence[str | int], message: str) -> ConfigurationError:
        return ConfigurationError(f"{self.display}:{self.line_of(location)}: {message}")


class _Composer(Composer):
    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.parser.check_event(AliasEvent):
            mark = self.parser.peek_event().start_mark
            raise ComposerError(None, None, "aliases (*name) are not allowed", mark)
        return super().compose_node(parent, index)


class _Constructor(SafeConstructor):
    display = "<yaml>"


def _construct_map(loader: _Constructor, node: MappingNode) -> YamlMap:
    result = YamlMap(loader.display, node.start_mark.line + 1)
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise ConfigurationError(f"{loader.display}:{line}: keys must be strings (quote codes such as '01')")
        if key in result:
            raise ConfigurationError(
                f"{loader.display}:{line}: duplicate key {key!r} (first at line {result.key_lines[key]})"
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = line
    return result


def _construct_list(loader: _Constructor, node: SequenceNode) -> YamlList:
    result = YamlList(loader.display, node.start_mark.line + 1)
    for item in node.value:
        result.append(loader.construct_object(item, deep=True))
        result.item_lines.append(item.start_mark.line + 1)
    return result


_Constructor.add_constructor(_MAP_TAG, _construct_map)
_Constructor.add_constructor(_SEQ_TAG, _construct_list)
for _tag in _REFUSED_TAGS:
    _Constructor.add_constructor(f"tag:yaml.org,2002:{_tag}", SafeConstructor.construct_undefined)


def _read(path: Path, display: str) -> str:
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_YAML_BYTES + 1)
        if len(raw) > MAX_YAML_BYTES:
            raise ConfigurationError(f"{display}:1: file larger than {MAX_YAML_BYTES} bytes")
        return raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{display}:1: cannot read file ({exc.__class__.__name__})") from None


def load_yaml(path: Path, display: str | None = None) -> YamlDocument:
    """Parse one YAML file; ``display`` is what error messages call it (default: the path)."""
    display = str(path) if display is None else display
    text = _read(path, display)
    yaml = YAML(typ="safe", pure=True)
    yaml.Composer = _Composer
    yaml.Constructor = _Constructor
    yaml.max_depth = MAX_DEPTH
    yaml.constructor.display = display
    try:
        data = yaml.load(text)
    except MaxDepthExceededError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else 1
        raise ConfigurationError(f"{display}:{line}: invalid YAML: nested deeper than {MAX_DEPTH} levels") from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        # the problem alone: str(exc) quotes the file's text around the mark
        raise ConfigurationError(f"{display}:{line}: invalid YAML: {exc.problem or exc.context}") from None
    except (YAMLError, RecursionError) as exc:
        raise ConfigurationError(f"{display}:1: invalid YAML ({exc.__class__.__name__})") from None
    if data is None:
        raise ConfigurationError(f"{display}:1: empty file")
    return YamlDocument(path=path, display=display, data=data)

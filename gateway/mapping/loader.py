"""YAML loading that remembers where everything came from.

Every mistake in a mapping must be reported as ``file:line``, but PyYAML's constructed values
forget their position. This loader builds dict/list subclasses that keep the line of each
mapping key and each list item, and it refuses duplicate keys (plain PyYAML silently keeps the
last one, which hides copy-and-paste errors in long forms).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from gateway.errors import ConfigurationError


class YMap(dict[str, Any]):
    """A YAML mapping that knows its file, its own line and the line of each key."""

    def __init__(self, file: str, line: int) -> None:
        super().__init__()
        self.file = file
        self.line = line
        self.key_lines: dict[str, int] = {}

    def where(self, key: str | None = None) -> str:
        line = self.key_lines.get(key, self.line) if key is not None else self.line
        return f"{self.file}:{line}"


class YList(list[Any]):
    """A YAML sequence that knows its file, its own line and the line of each item."""

    def __init__(self, file: str, line: int) -> None:
        super().__init__()
        self.file = file
        self.line = line
        self.item_lines: list[int] = []

    def where(self, index: int | None = None) -> str:
        line = self.item_lines[index] if index is not None else self.line
        return f"{self.file}:{line}"


class _LineLoader(yaml.SafeLoader):
    display_name = "<yaml>"


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> YMap:
    loader.flatten_mapping(node)
    result = YMap(loader.display_name, node.start_mark.line + 1)
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            # YAML reads 01 as the integer 1: codes must be quoted to survive.
            raise ConfigurationError(f"{loader.display_name}:{line}: keys must be strings (quote codes such as '01')")
        if key in result:
            raise ConfigurationError(
                f"{loader.display_name}:{line}: duplicate key {key!r} (first at line {result.key_lines[key]})"
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = line
    return result


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> YList:
    result = YList(loader.display_name, node.start_mark.line + 1)
    for item in node.value:
        result.append(loader.construct_object(item, deep=True))
        result.item_lines.append(item.start_mark.line + 1)
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_yaml(path: Path, display_name: str) -> Any:
    """Parse one YAML file; ``display_name`` is what error messages call the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{display_name}:1: cannot read file ({exc.__class__.__name__})") from None
    loader = _LineLoader(text)
    loader.display_name = display_name
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise ConfigurationError(f"{display_name}:{line}: invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{display_name}:1: invalid YAML: {exc}") from None
    finally:
        loader.dispose()

"""Helpers for mapping tests: write mapping files into a temporary tree and load them."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.mapping import Mapping, MappingRegistry

from .mapping_helpers import HEADER, Loader


@pytest.fixture
def load(tmp_path: Path) -> Loader:
    """``load(yaml_text, files={relative path: text}, name="m.yaml")`` -> registry."""

    def _load(text: str, files: dict[str, str] | None = None, name: str = "m.yaml") -> MappingRegistry:
        root = tmp_path / "mappings"
        (root / "portal").mkdir(parents=True, exist_ok=True)
        for relative, content in (files or {}).items():
            target = tmp_path / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(textwrap.dedent(content), encoding="utf-8")
        (root / "portal" / name).write_text(textwrap.dedent(text), encoding="utf-8")
        return MappingRegistry.load(root)

    return _load


@pytest.fixture
def form(load: Loader) -> Callable[..., Mapping]:
    """``form(fields_yaml, extra_yaml="")`` -> the loaded test.form mapping."""

    def _form(fields: str, extra: str = "", files: dict[str, str] | None = None) -> Mapping:
        text = HEADER + textwrap.dedent(extra) + "fields:\n" + textwrap.indent(textwrap.dedent(fields), "  ")
        return load(text, files).get("test.form")

    return _form

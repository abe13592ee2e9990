"""Ports and adapters: the core never imports an adapter; adapters plug in by entry points."""

from __future__ import annotations

import ast
from importlib.metadata import entry_points

from gateway.plugins import ADAPTER_GROUP, COMMAND_GROUP, DEMO_GROUP, SANDBOX_GROUP
from tests.conftest import REPO


def imported_modules(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_core_never_imports_adapters() -> None:
    offenders = [str(path.relative_to(REPO)) for path in (REPO / "gateway").rglob("*.py")
                 if any(m == "adapters" or m.startswith("adapters.")
                        for m in imported_modules(path.read_text(encoding="utf-8")))]
    assert offenders == []


def test_the_check_itself_sees_imports() -> None:
    assert imported_modules("from adapters.xta import channel\nimport adapters.portal") == {
        "adapters.xta", "adapters.portal"}


def test_every_adapter_is_reachable_through_its_entry_points() -> None:
    for group in (ADAPTER_GROUP, SANDBOX_GROUP, DEMO_GROUP, COMMAND_GROUP):
        for ep in entry_points(group=group):
            assert ep.value.startswith("adapters."), ep
            assert callable(ep.load()), ep
    assert {ep.name for ep in entry_points(group=ADAPTER_GROUP)} == {"portal", "fitconnect", "xta", "citizen_login"}

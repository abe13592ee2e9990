"""gateway/mapping is split by when code runs: load/ at start-up, run/ per message, no cycles."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

PACKAGE = REPO / "gateway" / "mapping"
# What executes a message; loading builds specs and never needs these.
PER_MESSAGE = {"engine", "values", "sections", "mapping", "documents", "result"}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imports(path: Path) -> list[tuple[str, bool]]:
    """(imported gateway module, whether the import is at module level) of one file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top_level = {id(node) for node in tree.body}
    found: list[tuple[str, bool]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # "from package import module" imports that module
            names = [f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in MODULES]
            found.extend((name, id(node) in top_level) for name in names or [node.module])
        elif isinstance(node, ast.Import):
            found.extend((alias.name, id(node) in top_level) for alias in node.names)
    return [(name, top) for name, top in found if name.startswith("gateway")]


def graph() -> dict[str, set[str]]:
    return {name: {m for m, _ in imports(path) if m in MODULES} for name, path in MODULES.items()}


def test_the_check_sees_the_package() -> None:
    assert {"gateway.mapping", "gateway.mapping.loaded", "gateway.mapping.load.build",
            "gateway.mapping.run.engine"} <= set(MODULES)
    assert "gateway.mapping.run.spec" in graph()["gateway.mapping.load.build"]


def test_per_message_code_never_imports_load_time_code() -> None:
    for name, path in MODULES.items():
        if name == "gateway.mapping.run" or name.startswith("gateway.mapping.run."):
            offenders = [m for m, _ in imports(path) if m.startswith(("gateway.mapping.load", "gateway.mapping.loaded",
                                                                      "gateway.yamlfile"))]
            assert offenders == [], name


def test_loading_never_imports_what_maps_a_message() -> None:
    for name, path in MODULES.items():
        if name == "gateway.mapping.load" or name.startswith("gateway.mapping.load."):
            used = {m.rsplit(".", 1)[-1] for m, _ in imports(path) if m.startswith("gateway.mapping.run.")}
            assert used.isdisjoint(PER_MESSAGE), (name, used & PER_MESSAGE)


def test_imports_are_at_module_level_and_never_through_the_package_itself() -> None:
    for name, path in MODULES.items():
        found = imports(path)
        assert all(top for _, top in found), f"{name} imports inside a function"
        if name != "gateway.mapping":
            assert "gateway.mapping" not in {m for m, _ in found}, f"{name} imports gateway.mapping's public surface"


def test_no_import_cycles() -> None:
    edges = graph()
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        assert name not in trail, " -> ".join([*trail[trail.index(name):], name])
        if name in done:
            return
        for target in sorted(edges[name]):
            visit(target, [*trail, name])
        done.add(name)

    for name in sorted(edges):
        visit(name, [])

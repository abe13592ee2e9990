"""Ports and adapters: the core never imports an adapter; adapters plug in by entry points; no
module imports itself back through others — at module level, lazily inside a function, or for
type checking only: a cycle hidden behind a lazy import is still a cycle."""

from __future__ import annotations

import ast
import re
import tomllib
from importlib.metadata import entry_points
from pathlib import Path

from gateway.plugins import ADAPTER_GROUP, COMMAND_GROUP, DEMO_GROUP, REPLY_CHANNEL_GROUP, SANDBOX_GROUP
from tests.conftest import REPO


def imported_modules(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path, packages: tuple[str, ...] = ("gateway", "adapters")) -> dict[str, set[str]]:
    """Module -> the modules of ``packages`` it imports anywhere in its source (every
    ``import``/``from ... import``, in functions and ``if TYPE_CHECKING:`` blocks too;
    relative imports resolved; ``from package import module`` counts as the module)."""
    files = {module_name(p, root): p for package in packages for p in (root / package).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*anchor, *([node.module] if node.module else [])])
                targets.update(f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names)
        edges = set()
        for target in targets:
            while target and target not in files:  # a name inside a module: the module
                target = target.rpartition(".")[0]
            if target and target != name:
                edges.add(target)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[frozenset[str]] = set()
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.add(frozenset(component))
    return found


def test_the_core_never_imports_adapters() -> None:
    offenders = [str(path.relative_to(REPO)) for path in (REPO / "gateway").rglob("*.py")
                 if any(m == "adapters" or m.startswith("adapters.")
                        for m in imported_modules(path.read_text(encoding="utf-8")))]
    assert offenders == []


def test_the_check_itself_sees_imports() -> None:
    assert imported_modules("from adapters.xta import channel\nimport adapters.portal") == {
        "adapters.xta", "adapters.portal"}


def test_no_import_cycles_in_the_core_and_the_adapters() -> None:
    found = cycles(import_graph(REPO))
    assert found == set(), "import cycles: " + "; ".join(" <-> ".join(sorted(c)) for c in found)


def test_the_cycle_check_sees_lazy_relative_and_type_checking_imports(tmp_path: Path) -> None:
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    for name in ("pkg/__init__.py", "pkg/sub/__init__.py"):
        (tmp_path / name).write_text("", encoding="utf-8")
    (tmp_path / "pkg" / "a.py").write_text("def f():\n    from pkg import b\n", encoding="utf-8")
    (tmp_path / "pkg" / "b.py").write_text("from .sub import c\n", encoding="utf-8")
    (tmp_path / "pkg" / "sub" / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..a import f\n", encoding="utf-8")
    (tmp_path / "pkg" / "d.py").write_text("import pkg.b\n", encoding="utf-8")
    graph = import_graph(tmp_path, ("pkg",))
    assert graph["pkg.a"] == {"pkg.b"} and graph["pkg.b"] == {"pkg.sub.c"} and graph["pkg.sub.c"] == {"pkg.a"}
    assert cycles(graph) == {frozenset({"pkg.a", "pkg.b", "pkg.sub.c"})}


def test_every_adapter_is_reachable_through_its_entry_points() -> None:
    for group in (ADAPTER_GROUP, SANDBOX_GROUP, DEMO_GROUP, COMMAND_GROUP, REPLY_CHANNEL_GROUP):
        for ep in entry_points(group=group):
            assert ep.value.startswith("adapters."), ep
            assert callable(ep.load()), ep
    adapters = {ep.name: ep.value for ep in entry_points(group=ADAPTER_GROUP)}
    assert set(adapters) == {"portal", "fitconnect", "xta", "citizen_login", "email", "hybridmail"}
    # a reply channel's entry point names the adapter that registers it
    assert all(ep.value in adapters.values() for ep in entry_points(group=REPLY_CHANNEL_GROUP))


def _roots(graph: dict[str, set[str]]) -> set[str]:
    """Where code is started from: the entry points and scripts of pyproject.toml, modules run
    with ``python -m``, the migrations (Alembic loads them by path), modules named as
    ``"module:attribute"`` strings (uvicorn's factory) and the adapters' test helpers
    (``testing.py``, for the test suite and the benchmarks)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    named = [*project["scripts"].values(), *(v for group in project["entry-points"].values() for v in group.values())]
    roots = {value.partition(":")[0] for value in named}
    for module in graph:
        path = REPO / Path(*module.split("."))
        source = (path / "__init__.py" if path.is_dir() else path.with_suffix(".py")).read_text(encoding="utf-8")
        if "__name__ == \"__main__\"" in source or module.endswith((".__main__", ".testing")) \
                or module.startswith("gateway.migrations"):
            roots.add(module)
        roots.update(m for m in re.findall(r"[\"']([a-z_.]+):[a-z_]+[\"']", source) if m in graph)
    return roots


def reachable(graph: dict[str, set[str]], roots: set[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        module = todo.pop()
        if module in seen or module not in graph:
            continue
        seen.add(module)
        parts = module.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # importing a.b.c runs a and a.b
        todo.extend(graph[module])
    return seen


def test_no_module_is_dead_code() -> None:
    """Every module of the core and the adapters is imported from somewhere the gateway starts:
    a module nothing imports (e.g. a replaced wire format) is deleted, not kept around."""
    graph = import_graph(REPO)
    dead = sorted(set(graph) - reachable(graph, _roots(graph)))
    assert dead == [], "modules nothing imports: " + ", ".join(dead)


def test_the_dead_code_check_sees_an_unused_module() -> None:
    graph = {"pkg": set(), "pkg.a": {"pkg.b"}, "pkg.b": set(), "pkg.old": {"pkg.b"}}
    assert set(graph) - reachable(graph, {"pkg.a"}) == {"pkg.old"}

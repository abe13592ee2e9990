"""pyproject.toml: every dependency pinned to one version, and a runtime dependency is one the
gateway's own code (gateway/, adapters/) imports — what only tests use is a dev dependency."""

from __future__ import annotations

import ast
import re
import tomllib
from importlib.metadata import packages_distributions

from tests.conftest import REPO

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
# runtime dependencies the code uses without importing them by name
LOADED_BY_NAME = {
    "python-multipart": "FastAPI's form and multipart parser",
    "psycopg": "SQLAlchemy's postgresql+psycopg dialect",
    "fastapi-offline": "its static files (importlib.resources, gateway/api/docs.py)",
}


def _name(requirement: str) -> str:
    return re.split(r"[\[=<>~! ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _imported_top_level() -> set[str]:
    names: set[str] = set()
    for package in ("gateway", "adapters"):
        for path in (REPO / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names.add(node.module.split(".")[0])
    return names


def test_every_dependency_is_pinned_exactly() -> None:
    for requirement in [*PROJECT["dependencies"], *(r for group in PROJECT["optional-dependencies"].values()
                                                    for r in group)]:
        assert re.fullmatch(r"[A-Za-z0-9._\[\]-]+==[0-9][0-9A-Za-z.]*", requirement), requirement


def test_every_runtime_dependency_is_used_by_the_gateway() -> None:
    distributions = packages_distributions()
    used = {_name(dist) for module in _imported_top_level() for dist in distributions.get(module, [])}
    unused = sorted(_name(r) for r in PROJECT["dependencies"] if _name(r) not in used | set(LOADED_BY_NAME))
    assert unused == [], f"runtime dependencies nothing in gateway/ or adapters/ imports: {unused}"

"""``catalog check``: catalog, mappings and fixtures are consistent (also run by the tests)."""

from __future__ import annotations

import json
from pathlib import Path

from gateway.catalog import Catalog, RegistryLookup
from gateway.config import Settings
from gateway.errors import GatewayError
from gateway.mapping import Mapping, MappingRegistry


def check_fixture(mapping: Mapping, input_path: Path, expected_path: Path) -> str | None:
    """None if the mapping turns the input into exactly the expected output."""
    try:
        produced = mapping.apply(input_path.read_bytes())
    except GatewayError as exc:
        return f"{input_path}: {exc.detail}"
    actual = json.loads(produced.model_dump_json())
    expected = json.loads(expected_path.read_text(encoding="utf-8"))
    if actual != expected:
        return f"{input_path}: output differs from {expected_path.name}"
    return None


def check_catalog(settings: Settings) -> list[str]:
    try:
        registry = MappingRegistry.load(settings.mappings_dir)
        Catalog.load(settings.catalog_dir, RegistryLookup(registry))
    except GatewayError as exc:
        return [exc.detail]
    problems: list[str] = []
    fixtures_root = settings.fixtures_dir / "mappings"
    try:
        pairs = registry.fixture_pairs(fixtures_root)
    except GatewayError as exc:
        return [exc.detail]
    covered = {mapping.id for mapping, _, _ in pairs}
    problems.extend(f"mapping {mid} has no fixture pair in {fixtures_root / mid}"
                    for mid in registry.ids() if mid not in covered)
    for mapping, input_path, expected_path in pairs:
        problem = check_fixture(mapping, input_path, expected_path)
        if problem:
            problems.append(problem)
    return problems

"""``catalog check``: catalog, mappings and fixtures are consistent (also run by the tests)."""

from __future__ import annotations

import json
from pathlib import Path

from gateway.catalog import Catalog, RegistryLookup
from gateway.config import Settings
from gateway.errors import GatewayError
from gateway.mapping import Mapping, MappingRegistry
from gateway.plugins import REPLY_CHANNEL_GROUP, available


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


def check_reply_channels(catalog: Catalog, declared: set[str]) -> list[str]:
    """Every reply channel the catalog names must be one an installed adapter registers
    (entry points ``rathaus_gateway.reply_channels``): a misspelt name would silently never carry
    a reply. Whether its adapter is *configured* is the settings' business, not the catalog's."""
    return [f"{where}: reply channel {name!r} for {kind} replies is registered by no installed adapter "
            f"(known: {', '.join(sorted(declared)) or 'none'})"
            for where, kind, name in catalog.reply_channel_uses() if name not in declared]


def check_catalog(settings: Settings) -> list[str]:
    try:
        registry = MappingRegistry.load(settings.mappings_dir)
        catalog = Catalog.load(settings.catalog_dir, RegistryLookup(registry))
    except GatewayError as exc:
        return [exc.detail]
    problems: list[str] = check_reply_channels(catalog, set(available(REPLY_CHANNEL_GROUP)))
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

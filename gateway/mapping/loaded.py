"""The loaded mappings: every mapping file, by id, as start-up hands them to the intake.

(Not to be confused with :mod:`gateway.adapter_registry`, where adapters register.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from gateway.errors import ConfigurationError
from gateway.mapping.load.files import load_specs
from gateway.mapping.multiline import multiline_patterns
from gateway.mapping.run.mapping import Mapping

INPUT_SUFFIXES: Final = (".input.json", ".input.xml")
EXPECTED_SUFFIX: Final = ".expected.json"


class MappingRegistry:
    """All mappings under one root, loaded and checked together at start-up."""

    def __init__(self, mappings: dict[str, Mapping]) -> None:
        self._mappings = mappings

    @classmethod
    def load(cls, root: Path, schemas_root: Path | None = None) -> MappingRegistry:
        """Load and check every mapping file under ``root`` (see load_specs)."""
        return cls({mapping_id: Mapping(spec) for mapping_id, spec in load_specs(root, schemas_root).items()})

    def get(self, mapping_id: str) -> Mapping:
        try:
            return self._mappings[mapping_id]
        except KeyError:
            raise ConfigurationError(f"unknown mapping {mapping_id!r}") from None

    def ids(self) -> list[str]:
        return sorted(self._mappings)

    def multiline_patterns(self, source_format: str) -> frozenset[tuple[str, ...]]:
        """The multi-line text locations of every mapping of ``source_format`` (a form may
        have several mapping versions side by side: a location multi-line in any counts)."""
        found: set[tuple[str, ...]] = set()
        for mapping in self._mappings.values():
            if mapping.source_format == source_format and mapping.media_type == "application/json":
                found |= multiline_patterns(mapping.spec)
        return frozenset(found)

    def fixture_pairs(self, fixtures_root: Path) -> list[tuple[Mapping, Path, Path]]:
        """Every ``<id>/<name>.input.(json|xml)`` with its ``<name>.expected.json``.

        Orphans (an input without expected file or the reverse, a folder for an unknown
        mapping) are errors: a fixture that silently stops running is worse than none.
        """
        pairs: list[tuple[Mapping, Path, Path]] = []
        if not fixtures_root.is_dir():
            return pairs
        for folder in sorted(p for p in fixtures_root.iterdir() if p.is_dir()):
            if folder.name not in self._mappings:
                raise ConfigurationError(f"{folder}: fixtures for unknown mapping {folder.name!r}")
            mapping = self._mappings[folder.name]
            inputs = {p.name.removesuffix(s): p for p in folder.iterdir() for s in INPUT_SUFFIXES if p.name.endswith(s)}
            expected = {
                p.name.removesuffix(EXPECTED_SUFFIX): p for p in folder.iterdir() if p.name.endswith(EXPECTED_SUFFIX)
            }
            if inputs.keys() != expected.keys():
                orphans = sorted(inputs.keys() ^ expected.keys())
                raise ConfigurationError(f"{folder}: fixtures without their pair: {', '.join(orphans)}")
            pairs.extend((mapping, inputs[name], expected[name]) for name in sorted(inputs))
        return pairs

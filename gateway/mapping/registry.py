"""Loaded mappings: :class:`Mapping` (one file) and :class:`MappingRegistry` (all of them)."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from gateway.errors import ConfigurationError
from gateway.mapping.build import LoadEnvironment, build_mapping
from gateway.mapping.engine import map_document
from gateway.mapping.multiline import multiline_patterns
from gateway.mapping.result import MappedApplication
from gateway.mapping.schemas import SchemaCache
from gateway.mapping.sources import ParsedDocument, parse_json, parse_xml
from gateway.mapping.spec import MappingSpec

SKIPPED_DIRS: Final = ("catalog", "codelists")
INPUT_SUFFIXES: Final = (".input.json", ".input.xml")
EXPECTED_SUFFIX: Final = ".expected.json"


class Mapping:
    """One loaded, validated mapping file."""

    __slots__ = ("_spec", "id", "media_type", "path", "source_format", "title", "version")

    def __init__(self, spec: MappingSpec) -> None:
        self._spec = spec
        self.id: str = spec.id
        self.version: int = spec.version
        self.title: str = spec.title
        self.source_format: str = spec.source.format
        self.media_type: str = spec.source.media_type
        self.path: Path = spec.path

    def __repr__(self) -> str:
        return f"Mapping({self.id!r}, version={self.version})"

    @property
    def multiline_patterns(self) -> frozenset[tuple[str, ...]]:
        """Where the source holds multi-line text (fields of type ``text``), see multiline.py."""
        return multiline_patterns(self._spec)

    def apply(self, data: bytes, document: ParsedDocument | None = None) -> MappedApplication:
        """Parse, validate against ``source.schema`` and map one source document.

        ``document``, when given, is ``data`` already parsed and is not parsed again: the root
        element (lxml) for XML, the top-level object for JSON. The caller vouches that it is
        the parse of exactly these bytes with the same safety as here: for XML through
        :mod:`gateway.safexml` (no DTD, entities or network) with limits no looser than
        ``MAX_DOCUMENT_BYTES`` and ``MAX_XML_DEPTH`` (gateway.mapping.sources), as
        :func:`parse_xml` does; for JSON by ``parse_json`` (exact decimals, no duplicate keys,
        size limit). Nothing of this is checked again; ``source.schema`` still is.

        Raises InvalidPayload for unparsable or schema-violating input, MappingFailed when the
        document is well-formed but cannot be mapped (missing required value, bad date ...).
        """
        if document is None:
            document = parse_json(data) if self.media_type == "application/json" else parse_xml(data)
        if self._spec.source.schema is not None:
            self._spec.source.schema.validate(document)
        return map_document(self._spec, document)


class MappingRegistry:
    """All mappings under one root, loaded and checked together at start-up."""

    def __init__(self, mappings: dict[str, Mapping]) -> None:
        self._mappings = mappings

    @classmethod
    def load(cls, root: Path, schemas_root: Path | None = None) -> MappingRegistry:
        """Load every ``*.yaml`` under ``root`` except catalog/ and codelists/.

        ``schemas_root`` (default: ``schemas/`` beside ``root``) anchors ``source.schema``.
        """
        if not root.is_dir():
            raise ConfigurationError(f"{root}: mappings directory not found")
        env = LoadEnvironment(root, SchemaCache(schemas_root or root.parent / "schemas"))
        mappings: dict[str, Mapping] = {}
        for path in sorted(root.rglob("*.y*ml")):
            relative = path.relative_to(root)
            # Hidden files are editor backups and the like, never mappings.
            if relative.parts[0] in SKIPPED_DIRS or any(p.startswith(".") for p in relative.parts):
                continue
            if path.suffix != ".yaml":
                raise ConfigurationError(f"{env.display(path)}:1: mapping files must end in .yaml")
            mapping = Mapping(build_mapping(path, env))
            if mapping.id in mappings:
                raise ConfigurationError(
                    f"{env.display(path)}:1: duplicate mapping id {mapping.id!r} "
                    f"(also in {env.display(mappings[mapping.id].path)})"
                )
            mappings[mapping.id] = mapping
        return cls(mappings)

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
                found |= mapping.multiline_patterns
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

"""Loading every mapping file under the mappings directory into its spec, at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from gateway.errors import ConfigurationError
from gateway.mapping.load.build import LoadEnvironment, build_mapping
from gateway.mapping.load.schemas import SchemaCache
from gateway.mapping.run.spec import MappingSpec

SKIPPED_DIRS: Final = ("catalog", "codelists")


def load_specs(root: Path, schemas_root: Path | None = None) -> dict[str, MappingSpec]:
    """The spec of every ``*.yaml`` under ``root`` except catalog/ and codelists/, by mapping id.

    ``schemas_root`` (default: ``schemas/`` beside ``root``) anchors ``source.schema``.
    """
    if not root.is_dir():
        raise ConfigurationError(f"{root}: mappings directory not found")
    env = LoadEnvironment(root, SchemaCache(schemas_root or root.parent / "schemas"))
    specs: dict[str, MappingSpec] = {}
    for path in sorted(root.rglob("*.y*ml")):
        relative = path.relative_to(root)
        # Hidden files are editor backups and the like, never mappings.
        if relative.parts[0] in SKIPPED_DIRS or any(p.startswith(".") for p in relative.parts):
            continue
        if path.suffix != ".yaml":
            raise ConfigurationError(f"{env.display(path)}:1: mapping files must end in .yaml")
        spec = build_mapping(path, env)
        if spec.id in specs:
            raise ConfigurationError(
                f"{env.display(path)}:1: duplicate mapping id {spec.id!r} (also in {env.display(specs[spec.id].path)})"
            )
        specs[spec.id] = spec
    return specs

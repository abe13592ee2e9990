"""Print (or write) what a mapping makes of a fixture input, for review (a developer tool).

    .venv/bin/python tools/regen_fixture.py portal.hund-anmelden fixtures/mappings/.../x.input.json
    .venv/bin/python tools/regen_fixture.py ... --write   # writes x.expected.json beside the input

The output is only a draft: read it field by field against the input before committing it,
or the fixture test just compares the engine with itself.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gateway.mapping import MappedApplication, MappingRegistry
from gateway.mapping.loaded import EXPECTED_SUFFIX, INPUT_SUFFIXES


def render(result: MappedApplication) -> str:
    """The canonical text of an expected file."""
    return json.dumps(result.model_dump(mode="json"), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("mapping_id")
    parser.add_argument("input", type=Path)
    parser.add_argument("--mappings", type=Path, default=Path("mappings"))
    parser.add_argument("--write", action="store_true", help="write <name>.expected.json beside the input")
    args = parser.parse_args(argv)
    mapping = MappingRegistry.load(args.mappings).get(args.mapping_id)
    text = render(mapping.apply(args.input.read_bytes()))
    if not args.write:
        sys.stdout.write(text)
        return 0
    suffix = next((s for s in INPUT_SUFFIXES if args.input.name.endswith(s)), None)
    if suffix is None:
        parser.error(f"input must end in one of {', '.join(INPUT_SUFFIXES)}")
    target = args.input.with_name(args.input.name.removesuffix(suffix) + EXPECTED_SUFFIX)
    target.write_text(text, encoding="utf-8")
    sys.stderr.write(f"wrote {target}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

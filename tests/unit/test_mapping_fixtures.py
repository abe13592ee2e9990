"""Every mapping under mappings/ loads, has fixture pairs, and maps each input to its expected file.

Expected files are ``MappedApplication.model_dump(mode="json")`` written by
``tools/regen_fixture.py`` and reviewed by hand; this test keeps them honest.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest
from pydantic import TypeAdapter

from gateway.case.model import Field
from gateway.errors import InvalidPayload
from gateway.mapping import MappedApplication, Mapping, MappingRegistry
from tools.regen_fixture import render

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures" / "mappings"
PORTAL_FORMS = [
    "portal.brauchtumsfeuer",
    "portal.gewerbe-anmelden",
    "portal.hund-anmelden",
    "portal.kita-abmelden",
    "portal.kitagebuehren-erstattung",
]


@cache
def registry() -> MappingRegistry:
    return MappingRegistry.load(ROOT / "mappings")


@cache
def pairs() -> list[tuple[Mapping, Path, Path]]:
    return registry().fixture_pairs(FIXTURES)


def _pair_id(pair: tuple[Mapping, Path, Path]) -> str:
    return f"{pair[0].id}/{pair[1].name.split('.input.')[0]}"


def test_portal_forms_are_present() -> None:
    assert set(PORTAL_FORMS) <= set(registry().ids())
    for mapping_id in PORTAL_FORMS:
        mapping = registry().get(mapping_id)
        assert mapping.source_format == "portal:" + mapping_id.removeprefix("portal.")
        assert mapping.media_type == "application/json"


@pytest.mark.parametrize("mapping_id", registry().ids())
def test_every_mapping_has_a_fixture_pair(mapping_id: str) -> None:
    names = [i.name for m, i, _ in pairs() if m.id == mapping_id]
    assert names, f"{mapping_id} has no fixture pair under {FIXTURES / mapping_id}"
    if mapping_id in PORTAL_FORMS:
        assert len(names) >= 2, f"{mapping_id}: each portal form needs at least two fixture pairs"


@pytest.mark.parametrize("pair", pairs(), ids=_pair_id)
def test_fixture_pair_matches(pair: tuple[Mapping, Path, Path]) -> None:
    mapping, source, expected_file = pair
    result = mapping.apply(source.read_bytes())
    expected_text = expected_file.read_text(encoding="utf-8")
    assert result.model_dump(mode="json") == json.loads(expected_text)
    # The expected file must itself be a valid result (values read back as text, since
    # Field.value is a union), and be written in the canonical form.
    reread = MappedApplication.model_validate_json(expected_text)
    assert reread.model_dump(mode="json") == json.loads(expected_text)
    assert render(result) == expected_text, f"{expected_file} is not in canonical form (regen_fixture)"
    # Validating the dumped form from scratch gives the very same fields (types included).
    assert _FORM.validate_python(result.model_dump()["form"]) == result.form


_FORM: TypeAdapter[list[Field]] = TypeAdapter(list[Field])


@pytest.mark.parametrize("mapping_id", PORTAL_FORMS)
def test_portal_schemas_refuse_unknown_fields(mapping_id: str) -> None:
    mapping, source, _ = next(p for p in pairs() if p[0].id == mapping_id)
    document = json.loads(source.read_text(encoding="utf-8"))
    document["unbekanntesFeld"] = "x"
    with pytest.raises(InvalidPayload) as caught:
        mapping.apply(json.dumps(document).encode())
    assert caught.value.extensions["location"] == "/unbekanntesFeld"
    assert "unknown property 'unbekanntesFeld'" in caught.value.detail


def test_applying_a_mapping_compiles_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Paths, expressions and schemas are compiled once at load time, never per submission."""
    loaded = [(m, s.read_bytes()) for m, s, _ in pairs()]

    def compiling(*args: object, **kwargs: object) -> None:
        raise AssertionError("compiled while applying a mapping")

    monkeypatch.setattr("lxml.etree.XPath", compiling)
    monkeypatch.setattr("jsonpointer.JsonPointer", compiling)
    monkeypatch.setattr("ast.parse", compiling)
    monkeypatch.setattr("builtins.compile", compiling)
    for mapping, data in loaded:
        mapping.apply(data)

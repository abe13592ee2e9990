"""``Mapping.apply(data, document)``: a document the caller has parsed already is not parsed again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.errors import InvalidPayload
from gateway.mapping import Mapping, MappingRegistry, parse_json, parse_xml

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "fixtures" / "mappings"


def _pairs() -> list[tuple[Mapping, Path, Path]]:
    return MappingRegistry.load(ROOT / "mappings").fixture_pairs(FIXTURES)


def _refuse(data: bytes) -> Any:
    raise AssertionError("parsed again")


@pytest.mark.parametrize("pair", _pairs(), ids=lambda p: f"{p[0].id}/{p[1].name.split('.input.')[0]}")
def test_a_parsed_document_maps_like_its_bytes(
    pair: tuple[Mapping, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    mapping, source, _ = pair
    data = source.read_bytes()
    expected = mapping.apply(data)
    document = parse_json(data) if mapping.media_type == "application/json" else parse_xml(data)
    monkeypatch.setattr("gateway.mapping.run.mapping.parse_json", _refuse)
    monkeypatch.setattr("gateway.mapping.run.mapping.parse_xml", _refuse)
    assert mapping.apply(data, document) == expected
    assert mapping.apply(data, document=document).model_dump_json() == expected.model_dump_json()


def test_without_a_document_the_bytes_are_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    mapping, source, _ = next(p for p in _pairs() if p[0].media_type == "application/xml")
    monkeypatch.setattr("gateway.mapping.run.mapping.parse_xml", _refuse)
    with pytest.raises(AssertionError, match="parsed again"):
        mapping.apply(source.read_bytes())
    with pytest.raises(AssertionError, match="parsed again"):
        mapping.apply(source.read_bytes(), None)


def test_the_schema_still_checks_a_parsed_document() -> None:
    mapping, source, _ = next(p for p in _pairs() if p[0].id == "portal.hund-anmelden")
    document = parse_json(source.read_bytes())
    document["unbekanntesFeld"] = "x"
    with pytest.raises(InvalidPayload) as caught:
        mapping.apply(json.dumps(document).encode(), document)
    assert caught.value.extensions["location"] == "/unbekanntesFeld"

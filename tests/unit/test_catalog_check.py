"""The shipped catalog, mappings and fixtures are consistent (what `catalog check` checks)."""

from __future__ import annotations

import shutil
from pathlib import Path

from gateway.checks import check_catalog
from gateway.config import Settings
from tests.conftest import REPO


def test_shipped_catalog_is_consistent() -> None:
    assert check_catalog(Settings()) == []


def test_every_portal_form_of_the_brief_is_offered() -> None:
    text = (REPO / "mappings" / "catalog" / "tangerhuette.yaml").read_text(encoding="utf-8")
    for mapping_id in ("portal.hund-anmelden", "portal.kita-abmelden", "portal.kitagebuehren-erstattung",
                       "portal.brauchtumsfeuer", "portal.gewerbe-anmelden"):
        assert mapping_id in text


def test_a_broken_expected_fixture_is_reported(tmp_path: Path) -> None:
    shutil.copytree(REPO / "mappings", tmp_path / "mappings")
    shutil.copytree(REPO / "fixtures" / "mappings", tmp_path / "fixtures" / "mappings")
    shutil.copytree(REPO / "schemas", tmp_path / "schemas")
    expected = tmp_path / "fixtures" / "mappings" / "portal.hund-anmelden" / "betreuer-listenhund.expected.json"
    text = expected.read_text(encoding="utf-8")
    assert '"Rocky"' in text
    expected.write_text(text.replace('"Rocky"', '"Rex"'), encoding="utf-8")
    problems = check_catalog(Settings(mappings_dir=tmp_path / "mappings", fixtures_dir=tmp_path / "fixtures"))
    assert problems and "output differs" in problems[0]

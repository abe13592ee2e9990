"""The search the no-personal-data test relies on finds what it must (and not too much)."""

from __future__ import annotations

import json

from tests.e2e.observability import personal_data


def test_the_demo_people_are_searched_for_in_every_spelling() -> None:
    searched = personal_data.patterns(personal_data.from_fixtures())
    for value in ("Mustermann", "Özdemir", "Jürgen", "1980-02-29", "29.02.1980", "Bismarckstraße 12",
                  "erika.mustermann@example.org"):
        assert value in searched, value


def test_hits_are_whole_words_in_decoded_text() -> None:
    searched = personal_data.patterns(["Mustermann", "Jürgen", "1980-02-29"])
    line = json.dumps({"message": "refused: Jürgen Mustermann"}, ensure_ascii=False)
    assert {value for value, _ in personal_data.hits(line, searched)} == {"Jürgen", "Mustermann"}
    assert personal_data.hits("Mustermannstraße and 21980-02-291 and mustermann", searched) == []
    assert personal_data.hits('"birth": "1980-02-29"', searched) == [("1980-02-29", '"birth": "1980-02-29"')]

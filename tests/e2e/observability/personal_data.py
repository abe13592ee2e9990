"""The demo people's personal data, as the test looks for it in logs and metrics: names, birth
dates (ISO and German spelling) and street addresses — from the demo fixtures of every channel
(the expected cases of the portal, FIT-Connect and XÖV mappings, the login sandbox's accounts)
and from the cases the traffic made (whatever a channel's own fixtures held)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from adapters.citizen_login import attributes
from adapters.citizen_login.sandbox.people import PEOPLE

REPO = Path(__file__).resolve().parents[3]
MIN_LENGTH = 4  # shorter tokens ("Max", "Ali") match too much that is not a person: left out, said so


def _party_values(party: dict[str, Any] | None) -> Iterator[str]:
    if not party:
        return
    for key in ("given_names", "family_name", "birth_name", "organisation_name"):
        if isinstance(party.get(key), str):
            yield party[key]
    if isinstance(party.get("birth_date"), str):
        yield from _dates(party["birth_date"])
    address = party.get("address") or {}
    if address.get("street"):
        yield address["street"]
        if address.get("house_number"):
            yield f"{address['street']} {address['house_number']}"
    contact = party.get("contact") or {}
    if contact.get("email"):
        yield contact["email"]


def _dates(value: str) -> Iterator[str]:
    yield value
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return
    yield day.strftime("%d.%m.%Y")
    yield f"date({day.year}, {day.month}, {day.day})"  # the repr of a datetime.date


def from_case(case: dict[str, Any]) -> Iterator[str]:
    applicant = case.get("applicant") or {}
    yield from _party_values(applicant.get("party"))
    yield from _party_values(applicant.get("representative"))


def from_fixtures() -> Iterator[str]:
    for expected in sorted((REPO / "fixtures" / "mappings").glob("*/*.expected.json")):
        data = json.loads(expected.read_text(encoding="utf-8"))
        yield from _party_values(data.get("party"))
        yield from _party_values(data.get("representative"))
    for person in PEOPLE:
        values = person.values
        for key in (attributes.GIVEN_NAME, attributes.SURNAME, attributes.ORGANISATION_NAME, attributes.MAIL,
                    attributes.POSTAL_ADDRESS):
            if values.get(key):
                yield values[key]
        if values.get(attributes.BIRTH_DATE):
            yield from _dates(values[attributes.BIRTH_DATE])


def patterns(values: Iterable[str]) -> dict[str, re.Pattern[str]]:
    """One whole-word, case-sensitive pattern per distinct value long enough to mean a person."""
    return {value: re.compile(r"(?<![\w.@-])" + re.escape(value) + r"(?![\w@-])")
            for value in sorted(set(values)) if len(value) >= MIN_LENGTH}


def hits(text: str, found: dict[str, re.Pattern[str]]) -> list[tuple[str, str]]:
    """(value, the line it is in) for every value that occurs in ``text``."""
    result = []
    for value, pattern in found.items():
        match = pattern.search(text)
        if match:
            start = text.rfind("\n", 0, match.start()) + 1
            end = text.find("\n", match.end())
            result.append((value, text[start:end if end >= 0 else None][:300]))
    return result

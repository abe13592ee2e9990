"""Demo citizens and businesses of the sandbox (invented; any resemblance is coincidence)."""

from __future__ import annotations

from dataclasses import dataclass

from adapters.citizen_login import attributes as a


@dataclass(frozen=True)
class DemoAccount:
    key: str
    label: str
    kind: str  # natural_person | organisation
    values: dict[str, str]


PEOPLE: tuple[DemoAccount, ...] = (
    DemoAccount("erika", "Erika Mustermann (Bürgerin)", "natural_person", {
        a.BPK2: "SANDBOX-BPK2-ERIKA-0001", a.GIVEN_NAME: "Erika", a.SURNAME: "Mustermann",
        a.MAIL: "erika.mustermann@example.org", a.POSTAL_ADDRESS: "Bismarckstraße 12",
        a.POSTAL_CODE: "39517", a.LOCALITY: "Tangerhütte", a.COUNTRY: "DE", a.BIRTH_DATE: "1980-02-29",
        a.PLACE_OF_BIRTH: "Stendal", a.POSTBOX_HANDLE: "5f0c2b1e-8d4a-4c7e-9b3f-2a6d8e1c0f47"}),
    DemoAccount("juergen", "Jürgen Özdemir (Bürger)", "natural_person", {
        a.BPK2: "SANDBOX-BPK2-JUERGEN-0002", a.GIVEN_NAME: "Jürgen", a.SURNAME: "Özdemir",
        a.MAIL: "j.oezdemir@example.org", a.POSTAL_ADDRESS: "Lindenallee 3", a.POSTAL_CODE: "39517",
        a.LOCALITY: "Tangerhütte OT Lüderitz", a.COUNTRY: "DE", a.BIRTH_DATE: "1975-11-03",
        a.PLACE_OF_BIRTH: "Magdeburg", a.POSTBOX_HANDLE: "0b7d5c3a-1e2f-4a6b-8c9d-7e5f4a3b2c1d"}),
    DemoAccount("tischlerei", "Tischlerei Muster Holz GmbH (Unternehmen)", "organisation", {
        a.BPK2: "SANDBOX-MUK-TISCHLEREI-0003", a.ORGANISATION_NAME: "Tischlerei Muster Holz GmbH",
        a.MAIL: "info@muster-holz.example.org", a.POSTAL_ADDRESS: "Gewerbering 7", a.POSTAL_CODE: "39517",
        a.LOCALITY: "Tangerhütte", a.COUNTRY: "DE"}),
)

PROVED_BY = {"STORK-QAA-Level-1": "Benutzername", "STORK-QAA-Level-3": "Elster", "STORK-QAA-Level-4": "eID"}


def account(key: str) -> DemoAccount:
    for person in PEOPLE:
        if person.key == key:
            return person
    raise KeyError(key)

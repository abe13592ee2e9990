"""Applying mappings to JSON documents: fields, groups, parties, sections, warnings, errors."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from pydantic import field_validator

from gateway.case.model import Field, NaturalPerson, Organisation
from gateway.errors import MappingFailed
from gateway.mapping import MappedApplication, Mapping

from .mapping_helpers import Loader, doc, values

Form = Callable[..., Mapping]

GROUPS = """\
- key: kinder
  label: Kinder
  type: group
  path: /kinder
  repeat: true
  fields:
    - {key: name, label: Name, path: /name, required: true}
    - {key: geboren, label: Geboren, path: /geboren, type: date}
    - {key: gruss, label: Gruß, compute: "concat('Hallo ', name)"}
    - key: impfungen
      label: Impfungen
      type: group
      path: /impfungen
      repeat: true
      fields: [{key: art, label: Art, path: "", codelist: impfung}]
- key: anschrift
  label: Anschrift
  type: group
  path: /anschrift
  fields: [{key: ort, label: Ort, path: /ort}]
- key: kontakt
  label: Kontakt (ohne eigenen Pfad)
  type: group
  fields: [{key: mail, label: E-Mail, path: /mail}]
- {key: anzahl, label: Anzahl, type: integer, compute: len(kinder)}
"""
CODES = "codelists:\n  impfung: {masern: Masern, tetanus: Tetanus}\n"


def test_repeated_nested_and_plain_groups(form: Form) -> None:
    mapping = form(GROUPS, CODES)
    result = mapping.apply(
        doc(
            kinder=[
                {"name": "Lena", "geboren": "01.08.2020", "impfungen": ["masern", "tetanus"]},
                {"name": "Paul"},
            ],
            mail="a@example.org",
        )
    )
    assert values(result.form) == {
        "kinder": [
            {
                "name": "Lena",
                "geboren": dt.date(2020, 8, 1),
                "gruss": "Hallo Lena",
                "impfungen": [{"art": "masern"}, {"art": "tetanus"}],
            },
            {"name": "Paul", "geboren": None, "gruss": "Hallo Paul", "impfungen": []},
        ],
        "anschrift": None,  # an optional group whose path is absent
        "kontakt": [{"mail": "a@example.org"}],  # a group without path reads the enclosing context
        "anzahl": 2,
    }
    kinder = result.form[0]
    assert (kinder.type, kinder.repeated) == ("group", True)
    assert kinder.items is not None
    impfung = kinder.items[0][3].items[1][0]  # type: ignore[index]
    assert (impfung.value, impfung.code_list, impfung.code_label) == ("tetanus", "impfung", "Tetanus")
    assert result.form[2].repeated is False


def test_required_value_missing_names_key_and_path_in_a_repetition(form: Form) -> None:
    mapping = form(GROUPS, CODES)
    with pytest.raises(MappingFailed) as caught:
        mapping.apply(doc(kinder=[{"name": "Lena"}, {"name": ""}]))
    assert caught.value.detail == "required field 'kinder.name' is missing at /kinder/1/name"
    assert caught.value.extensions == {"field": "kinder.name", "path": "/kinder/1/name"}


def test_required_group_and_required_repetitions(form: Form) -> None:
    mapping = form("""\
        - {key: g, label: G, type: group, path: /g, required: true, fields: [{key: x, label: X, path: /x}]}
        - key: r
          label: R
          type: group
          path: /r
          repeat: true
          required: true
          fields: [{key: x, label: X, path: /x}]
        """)
    with pytest.raises(MappingFailed, match="required group 'g' is missing at /g"):
        mapping.apply(doc(r=[{"x": 1}]))
    with pytest.raises(MappingFailed, match="required group 'r' has no entries at /r"):
        mapping.apply(doc(g={"x": 1}, r=[]))
    with pytest.raises(MappingFailed, match="group 'r' at /r: expected an array"):
        mapping.apply(doc(g={"x": 1}, r={"x": 1}))


def test_bad_values_name_field_and_path_but_never_the_value(form: Form) -> None:
    mapping = form("""\
        - {key: geburt, label: Geburt, path: /person/geburt, type: date}
        - {key: betrag, label: Betrag, path: /betrag, type: decimal}
        - {key: ok, label: OK, path: /ok, type: boolean}
        """)
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"person": {"geburt": "31.02.Geheim"}}, "geburt", "/person/geburt"),
        ({"betrag": "zwölf Geheim"}, "betrag", "/betrag"),
        ({"ok": "Geheim"}, "ok", "/ok"),
    ]
    for document, key, path in cases:
        with pytest.raises(MappingFailed) as caught:
            mapping.apply(doc(**document))
        assert caught.value.extensions == {"field": key, "path": path}
        assert caught.value.detail.startswith(f"field '{key}' at {path}: ")
        assert "Geheim" not in caught.value.detail
        assert "Geheim" not in json.dumps(caught.value.to_problem())


def test_unknown_code_is_an_error_or_a_warning(form: Form) -> None:
    strict = form("- {key: farbe, label: Farbe, path: /farbe, codelist: farben}", "codelists:\n  farben: {rot: Rot}\n")
    with pytest.raises(MappingFailed) as caught:
        strict.apply(doc(farbe="lila"))
    assert caught.value.detail == "field 'farbe' at /farbe: code is not in code list 'farben'"
    lenient = form(
        "- {key: farbe, label: Farbe, path: /farbe, codelist: farben, unknown_code: warn}",
        "codelists:\n  farben: {rot: Rot}\n",
    )
    result = lenient.apply(doc(farbe="lila"))
    field = result.form[0]
    assert (field.value, field.code_list, field.code_label) == ("lila", "farben", None)
    assert [(w.code, w.field) for w in result.warnings] == [("unknown-code", "farbe")]
    assert "lila" not in result.warnings[0].message


def test_numeric_codes_from_json(form: Form) -> None:
    mapping = form("- {key: art, label: Art, path: /art, codelist: arten}", "codelists:\n  arten: {'1': Eins}\n")
    assert mapping.apply(doc(art=1)).form[0].code_label == "Eins"


def test_defaults_constants_and_fim_ids(form: Form) -> None:
    mapping = form(
        """\
        - {key: anzahl, label: Anzahl, path: /anzahl, type: integer, default: 1, fim_id: F60000228}
        - {key: art, label: Art, const: Hundesteuer}
        - {key: stichtag, label: Stichtag, const: 2026-01-01, type: date}
        - {key: status, label: Status, path: /status, codelist: s, default: neu, required: true}
        """,
        "codelists:\n  s: {neu: Neu, alt: Alt}\n",
    )
    form_fields = mapping.apply(doc()).form
    assert values(form_fields) == {
        "anzahl": 1,
        "art": "Hundesteuer",
        "stichtag": dt.date(2026, 1, 1),
        "status": "neu",
    }
    assert form_fields[0].fim_id == "F60000228"
    assert form_fields[3].code_label == "Neu"
    assert values(mapping.apply(doc(anzahl="3")).form)["anzahl"] == 3


def test_computed_values_and_their_errors(form: Form) -> None:
    mapping = form("""\
        - {key: a, label: A, path: /a, type: decimal}
        - {key: b, label: B, path: /b, type: decimal}
        - {key: quote, label: Quote, type: decimal, compute: "round(a / b, 2)"}
        - {key: pflicht, label: Pflicht, type: decimal, compute: a + 1, required: true}
        """)
    assert values(mapping.apply(doc(a="1", b="3")).form)["quote"] == Decimal("0.33")
    with pytest.raises(MappingFailed) as caught:
        mapping.apply(doc(a="1", b="0"))
    assert caught.value.extensions == {"field": "quote", "path": "compute"}
    with pytest.raises(MappingFailed, match="required field 'pflicht' is missing at compute"):
        mapping.apply(doc(b="1"))


def test_party_attributes(load: Loader) -> None:
    text = """\
id: p.form
version: 1
title: P
source: {format: "p", media_type: application/json}
codelists:
  staat: {DE: Deutschland, AT: Österreich}
  art: {p: natural_person, f: organisation}
  rf: {gmbh: GmbH}
applicant:
  kind: {path: /art, codelist: art}
  given_names: {path: /vorname, required: true}
  family_name: {path: /nachname}
  birth_date: {path: /geburt}
  name: {path: /firma}
  legal_form: {path: /rf, codelist: rf}
  address:
    street: {path: /strasse}
    country: {path: /staat, codelist: staat}
  contact:
    email: {path: /mail}
representative:
  present: /vertreter
  kind: natural_person
  given_names: {path: /vertreter/vorname}
  family_name: {path: /vertreter/nachname}
fields:
  - {key: x, label: X, path: /x}
"""
    mapping = load(text).get("p.form")
    person = mapping.apply(
        json.dumps(
            {
                "art": "p",
                "vorname": "Erika",
                "nachname": "Muster",
                "geburt": "1.2.1990",
                "strasse": "Weg 1",
                "mail": "e@example.org",
                "firma": "ignoriert",
            }
        ).encode()
    )
    assert isinstance(person.party, NaturalPerson)
    assert (person.party.given_names, person.party.birth_date) == ("Erika", dt.date(1990, 2, 1))
    assert person.party.address is not None and person.party.address.country == "DE"  # model default
    assert person.party.contact is not None and person.party.contact.email == "e@example.org"
    assert person.representative is None

    company = mapping.apply(
        json.dumps(
            {
                "art": "f",
                "firma": "Muster GmbH",
                "rf": "gmbh",
                "staat": "AT",
                "vertreter": {"vorname": "Max", "nachname": "Muster"},
            }
        ).encode()
    )
    assert isinstance(company.party, Organisation)
    assert (company.party.name, company.party.legal_form) == ("Muster GmbH", "GmbH")  # code -> label
    assert company.party.address is not None
    assert company.party.address.country == "Österreich"  # a code list on a party attribute gives the label
    assert isinstance(company.representative, NaturalPerson)
    assert company.representative.given_names == "Max"

    # given_names is required only for natural persons: the company above did not need it.
    with pytest.raises(MappingFailed, match=r"required field 'applicant\.given_names' is missing at /vorname"):
        mapping.apply(json.dumps({"art": "p", "nachname": "Muster"}).encode())
    with pytest.raises(MappingFailed) as caught:
        mapping.apply(json.dumps({"art": "p", "vorname": "Erika"}).encode())
    assert caught.value.extensions == {"field": "applicant.family_name", "path": "/nachname"}
    with pytest.raises(MappingFailed, match="code is not in code list 'art'"):
        mapping.apply(json.dumps({"art": "x", "firma": "F"}).encode())
    with pytest.raises(MappingFailed, match=r"applicant\.kind is missing at /art"):
        mapping.apply(json.dumps({"firma": "F"}).encode())
    with pytest.raises(MappingFailed, match=r"required field 'representative\.given_names' is missing"):
        mapping.apply(json.dumps({"art": "f", "firma": "F", "vertreter": {"nachname": "M"}}).encode())


class _GuardedField(Field):
    """A case model stricter than the converters (as a later rule on form values may make it)."""

    @field_validator("value")
    @classmethod
    def _refuse(cls, value: Any) -> Any:
        if value == "verboten":
            raise ValueError("this value is refused")
        return value


class _GuardedApplication(MappedApplication):
    form: list[_GuardedField]  # type: ignore[assignment]


def test_a_value_the_case_model_refuses_is_a_mapping_failure_without_the_value(
    form: Form, monkeypatch: pytest.MonkeyPatch
) -> None:
    mapping = form("- {key: a, label: A, path: /a}\n- {key: b, label: B, path: /b}")
    monkeypatch.setattr("gateway.mapping.run.engine.MappedApplication", _GuardedApplication)
    assert values(mapping.apply(doc(a="frei", b="auch frei")).form) == {"a": "frei", "b": "auch frei"}
    with pytest.raises(MappingFailed) as caught:
        mapping.apply(doc(a="frei", b="verboten"))
    assert caught.value.detail == "the mapped application is not a valid case part at form.1.value"
    assert caught.value.extensions == {"path": "form.1.value"}

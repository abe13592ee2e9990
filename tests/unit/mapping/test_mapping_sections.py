"""Optional sections (payment, reply channel, submission time), warning rules, JSON schema."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from gateway.case.model import NaturalPerson
from gateway.errors import InvalidPayload, MappingFailed
from gateway.mapping import MappedApplication, Mapping

from .mapping_helpers import HEADER, Loader, doc, values

Form = Callable[..., Mapping]

SECTIONS = """\
codelists:
  status: {bezahlt: paid, offen: pending}
  kanal: {email: email, postfach: postbox}
submitted_at: {path: /am}
payment:
  status: {path: /zahlung/status, codelist: status}
  amount: {path: /zahlung/betrag}
  transaction_id: {path: /zahlung/id}
reply_channel:
  kind: {path: /kanal/art, codelist: kanal}
  address: {path: /kanal/adresse}
"""


def test_sections_are_mapped(form: Form) -> None:
    mapping = form("- {key: x, label: X, path: /x}", SECTIONS)
    result = mapping.apply(
        doc(
            am="2026-11-21T09:14:03",
            zahlung={"status": "bezahlt", "betrag": "26,00", "id": "T1"},
            kanal={"art": "postfach", "adresse": "pf-1"},
        )
    )
    assert result.submitted_at == dt.datetime(2026, 11, 21, 9, 14, 3, tzinfo=ZoneInfo("Europe/Berlin"))
    assert result.submitted_at.utcoffset() == dt.timedelta(hours=1)
    assert result.payment is not None
    assert (result.payment.status, result.payment.amount, result.payment.currency) == (
        "paid",
        Decimal("26.00"),
        "EUR",
    )
    assert result.payment.transaction_id == "T1"
    assert result.reply_channel is not None
    assert (result.reply_channel.kind, result.reply_channel.address) == ("postbox", "pf-1")


def test_empty_optional_sections_are_left_out(form: Form) -> None:
    result = form("- {key: x, label: X, path: /x}", SECTIONS).apply(doc(zahlung={"status": ""}, kanal=None))
    assert (result.payment, result.reply_channel, result.submitted_at) == (None, None, None)


def test_partly_filled_section_needs_its_required_attributes(form: Form) -> None:
    mapping = form("- {key: x, label: X, path: /x}", SECTIONS)
    with pytest.raises(MappingFailed) as caught:
        mapping.apply(doc(zahlung={"betrag": "5"}))
    assert caught.value.extensions == {"field": "payment.status", "path": "/zahlung/status"}
    with pytest.raises(MappingFailed, match=r"reply_channel\.address"):
        mapping.apply(doc(kanal={"art": "email"}))


def test_invalid_reply_channel_kind_without_code_list_is_refused_without_its_value(form: Form) -> None:
    mapping = form(
        "- {key: x, label: X, path: /x}",
        "reply_channel:\n  kind: {path: /art}\n  address: {path: /adresse}\n",
    )
    with pytest.raises(MappingFailed) as caught:
        mapping.apply(doc(art="Brieftaube", adresse="a"))
    assert caught.value.detail == "reply_channel is not valid: kind"
    assert "Brieftaube" not in caught.value.detail


def test_section_expressions_see_the_form(form: Form) -> None:
    mapping = form(
        """\
        - {key: steuer, label: Steuer, path: /steuer, type: decimal}
        """,
        "payment:\n  status: {const: pending}\n  amount: {compute: steuer * 2}\n",
    )
    result = mapping.apply(doc(steuer="30,50"))
    assert result.payment is not None and result.payment.amount == Decimal("61.00")


WARNINGS = """\
- {key: gefaehrlich, label: Gefährlich, path: /g, type: boolean}
- {key: sachkunde, label: Sachkunde, path: /s, type: boolean}
- {key: text, label: Text, path: /t}
"""
RULES = """\
warnings:
  - when: gefaehrlich and not sachkunde
    code: missing-proof
    field: sachkunde
    message: Für gefährliche Hunde ist ein Sachkundenachweis nötig.
  - {when: len(text) > 3, code: lang, message: Langer Text.}
  - {when: text * 2, code: kaputt, field: text, message: nie}
"""


def test_warning_rules_fire_only_when_true(form: Form) -> None:
    mapping = form(WARNINGS, RULES.replace("  - {when: text * 2, code: kaputt, field: text, message: nie}\n", ""))
    quiet = mapping.apply(doc(g=False, t="ok"))
    assert quiet.warnings == []
    loud = mapping.apply(doc(g="ja", s="nein", t="Langtext"))
    assert [(w.code, w.field, w.message) for w in loud.warnings] == [
        ("missing-proof", "sachkunde", "Für gefährliche Hunde ist ein Sachkundenachweis nötig."),
        ("lang", None, "Langer Text."),
    ]


def test_a_broken_rule_warns_instead_of_refusing(form: Form) -> None:
    result = form(WARNINGS, RULES).apply(doc(t="Geheim"))
    assert [(w.code, w.field) for w in result.warnings] == [("lang", None), ("rule-failed", "text")]
    assert "kaputt" in result.warnings[1].message
    assert "Geheim" not in result.warnings[1].message


SCHEMA = """\
{"type": "object", "additionalProperties": false, "required": ["vorname", "nachname"],
 "properties": {"vorname": {"type": "string"}, "nachname": {"type": "string"},
                "hund": {"type": "object", "properties": {"alter": {"type": "integer"}}}}}
"""


def test_json_schema_violations_are_invalid_payload_with_location(load: Loader) -> None:
    text = HEADER.replace(
        "media_type: application/json}", "media_type: application/json, schema: portal/t.schema.json}"
    )
    text += "fields:\n  - {key: alter, label: Alter, path: /hund/alter, type: integer}\n"
    mapping = load(text, files={"schemas/portal/t.schema.json": SCHEMA}).get("test.form")
    assert values(mapping.apply(doc(hund={"alter": 3})).form) == {"alter": 3}
    with pytest.raises(InvalidPayload) as caught:
        mapping.apply(doc(hund={"alter": "Geheim"}, extra="Geheim2"))
    assert caught.value.detail == "schema violation at /extra: unknown property 'extra' (and 1 more)"
    assert caught.value.extensions["location"] == "/extra"
    assert caught.value.extensions["errors"] == [
        {"location": "/extra", "message": "unknown property 'extra'"},
        {"location": "/hund/alter", "message": "expected type integer"},
    ]
    assert "Geheim" not in str(caught.value.to_problem())


def test_mapped_application_forbids_unknown_members() -> None:
    party = NaturalPerson(given_names="E", family_name="M")
    MappedApplication(party=party, form=[])
    with pytest.raises(ValidationError):
        MappedApplication(party=party, form=[], extra="x")  # type: ignore[call-arg]


def test_invalid_payload_is_raised_before_mapping(form: Form) -> None:
    mapping = form("- {key: x, label: X, path: /x, required: true}")
    with pytest.raises(InvalidPayload, match="not well-formed"):
        mapping.apply(b"{kaputt")

"""Groups of XML leaves and their repetitions: values, defaults, warnings and the errors of the Nth item.

XÖV messages bring repeated groups with hundreds of entries (income, household members); every
entry is mapped by the one engine, and an error names the entry it is in.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from gateway.errors import MappingFailed
from gateway.mapping import MappedApplication, Mapping, MappingRegistry, parse_xml

from .mapping_helpers import Loader, values

ROOT = Path(__file__).resolve().parents[3]
WOHNGELD_INPUT = ROOT / "fixtures" / "mappings" / "xoev.wohngeld-mietzuschuss" / "alleinerziehend-zwei-kinder.input.xml"
NS = "urn:xoev-de:xfall:standard:fim-s05000227_1.5"
INCOME_PATH = "/w:fim.S05000227.05000227001005/w:G05000040"

XML_MAPPING = """\
id: xoev.posten
version: 1
title: Posten
source: {format: "xoev:posten", media_type: application/xml, namespaces: {t: "urn:t"}}
codelists:
  art: {a: Alpha, b: Beta}
applicant:
  kind: natural_person
  given_names: {path: /t:antrag/t:vorname, required: true}
  family_name: {path: /t:antrag/t:nachname, required: true}
fields:
  - key: posten
    label: Posten
    type: group
    path: /t:antrag/t:posten
    repeat: true
    fields:
      - {key: art, label: Art, path: ./t:art, codelist: art, unknown_code: warn, fim_id: F00000001}
      - {key: art_text, label: Art als Text, path: ./t:art}
      - {key: stufe, label: Stufe, path: ./t:stufe, codelist: art, default: b}
      - {key: betrag, label: Betrag, path: ./t:betrag, type: decimal, default: 0}
      - {key: anzahl, label: Anzahl, path: "t:anzahl", type: integer}
      - {key: ab, label: Ab, path: ./t:ab, type: date}
      - {key: am, label: Am, path: ./t:am, type: datetime}
      - {key: bezahlt, label: Bezahlt, path: ./t:bezahlt, type: boolean}
      - {key: notiz, label: Notiz, path: ./notiz, type: text}
      - {key: pflicht, label: Pflicht, path: ./t:pflicht, required: true}
  - key: einzeln
    label: Einzeln
    type: group
    path: /t:antrag/t:einzeln
    fields: [{key: wert, label: Wert, path: ./t:wert, type: decimal, required: true}]
warnings:
  - {when: "len(posten) > 2", code: many-items, message: Viele Posten.}
"""
POSTEN = (
    "<t:art>a</t:art><t:stufe>a</t:stufe><t:betrag>12,50</t:betrag><t:anzahl>3</t:anzahl><t:ab>01.02.2025</t:ab>"
    "<t:am>2025-02-01T10:00:00</t:am><t:bezahlt>ja</t:bezahlt><notiz> frei </notiz><t:pflicht>x</t:pflicht>"
)


def full_item() -> dict[str, Any]:
    return {"art": "a", "art_text": "a", "stufe": "a", "betrag": Decimal("12.50"), "anzahl": 3,
            "ab": dt.date(2025, 2, 1), "am": dt.datetime(2025, 2, 1, 10, tzinfo=dt.timezone(dt.timedelta(hours=1))),
            "bezahlt": True, "notiz": "frei", "pflicht": "x"}


def empty_item() -> dict[str, Any]:
    return {"art": None, "art_text": None, "stufe": "b", "betrag": Decimal(0), "anzahl": None, "ab": None,
            "am": None, "bezahlt": None, "notiz": None, "pflicht": "x"}


def xml(*posten: str, einzeln: str = "<t:einzeln><t:wert>7</t:wert></t:einzeln>") -> bytes:
    items = "".join(f"<t:posten>{p}</t:posten>" for p in posten)
    return (f'<t:antrag xmlns:t="urn:t"><t:vorname>Erika</t:vorname><t:nachname>Muster</t:nachname>'
            f"{items}{einzeln}</t:antrag>").encode()


@pytest.fixture
def posten(load: Loader) -> Mapping:
    return load(XML_MAPPING).get("xoev.posten")


def items_of(result: MappedApplication, key: str = "posten") -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = values(result.form)[key]
    return found


def test_every_type_of_leaf_in_a_repetition(posten: Mapping) -> None:
    result = posten.apply(xml(POSTEN))
    assert items_of(result) == [full_item()]
    assert [type(v) for v in items_of(result)[0].values()] == [type(v) for v in full_item().values()]
    items = next(f for f in result.form if f.key == "posten").items
    assert items is not None
    art, art_text, stufe = items[0][:3]
    assert (art.code_list, art.code_label, art.fim_id) == ("art", "Alpha", "F00000001")
    assert (art_text.code_list, stufe.code_label) == (None, "Alpha")
    assert result.warnings == []


def test_absent_and_blank_members_take_their_defaults(posten: Mapping) -> None:
    blank = "<t:pflicht>x</t:pflicht><t:stufe/><t:betrag>  </t:betrag><t:art> </t:art>"
    result = posten.apply(xml("<t:pflicht>x</t:pflicht>", blank, POSTEN))
    assert items_of(result) == [empty_item(), empty_item(), full_item()]
    assert [w.code for w in result.warnings] == ["many-items"]


@pytest.mark.parametrize(("change", "key", "value"), [
    pytest.param(("<t:anzahl>3</t:anzahl>", "<t:anzahl>3<t:x/></t:anzahl>"), "anzahl", 3, id="child-element"),
    pytest.param(("<t:betrag>12,50</t:betrag>", "<t:betrag>1<t:x>2</t:x>,5</t:betrag>"), "betrag", Decimal("12.5"),
                 id="mixed-content"),
    pytest.param(("frei", "frei<!-- c -->er"), "notiz", "freier", id="comment-in-text"),
    pytest.param(("<t:art>a</t:art>", "<t:art><![CDATA[b]]></t:art>"), "art_text", "b", id="cdata"),
    pytest.param((">ja<", "> nein <"), "bezahlt", False, id="boolean-words"),
    pytest.param(("01.02.2025", "2025-02-01"), "ab", dt.date(2025, 2, 1), id="iso-date"),
    pytest.param(("<t:pflicht>", "<t:fremd>1</t:fremd><!-- k --><t:pflicht>"), "pflicht", "x",
                 id="foreign-element-and-comment"),
])
def test_a_member_is_the_xpath_string_value_of_its_element(posten: Mapping, change: tuple[str, str], key: str,
                                                          value: Any) -> None:
    assert items_of(posten.apply(xml(POSTEN.replace(*change))))[0][key] == value


def test_unknown_codes_warn_in_document_order(posten: Mapping) -> None:
    unknown = POSTEN.replace(">a</t:art>", ">z</t:art>")
    result = posten.apply(xml(POSTEN, unknown, POSTEN, unknown))
    assert [w.code for w in result.warnings] == ["unknown-code", "unknown-code", "many-items"]
    assert [item["art"] for item in items_of(result)] == ["a", "z", "a", "z"]


@pytest.mark.parametrize(("posten_xml", "detail", "field", "path"), [
    pytest.param([POSTEN, POSTEN.replace("<t:pflicht>x</t:pflicht>", "")],
                 "required field 'posten.pflicht' is missing at {path}", "posten.pflicht",
                 "/t:antrag/t:posten[2]/./t:pflicht", id="required-missing"),
    pytest.param([POSTEN, POSTEN.replace("<t:pflicht>x</t:pflicht>", "<t:pflicht> </t:pflicht>")],
                 "required field 'posten.pflicht' is missing at {path}", "posten.pflicht",
                 "/t:antrag/t:posten[2]/./t:pflicht", id="required-blank"),
    pytest.param([POSTEN + "<t:betrag>1</t:betrag>"], "field 'posten.betrag' at {path}: expected one node, found 2",
                 "posten.betrag", "/t:antrag/t:posten[1]/./t:betrag", id="repeated-member"),
    pytest.param([POSTEN.replace("<t:stufe>a</t:stufe>", "<t:stufe>q</t:stufe>")],
                 "field 'posten.stufe' at {path}: code is not in code list 'art'", "posten.stufe",
                 "/t:antrag/t:posten[1]/./t:stufe", id="unknown-code-error"),
    pytest.param([POSTEN.replace("01.02.2025", "31.02.2025")],
                 "field 'posten.ab' at {path}: not a date in an accepted notation", "posten.ab",
                 "/t:antrag/t:posten[1]/./t:ab", id="bad-date"),
])
def test_a_refused_item_is_named_by_its_position(posten: Mapping, posten_xml: list[str], detail: str, field: str,
                                                 path: str) -> None:
    with pytest.raises(MappingFailed) as caught:
        posten.apply(xml(*posten_xml))
    assert caught.value.detail == detail.format(path=path)
    assert caught.value.extensions == {"field": field, "path": path}


def test_a_single_group_found_twice_is_refused(posten: Mapping) -> None:
    twice = "<t:einzeln><t:wert>1</t:wert></t:einzeln><t:einzeln><t:wert>2</t:wert></t:einzeln>"
    with pytest.raises(MappingFailed, match=r"group 'einzeln' at /t:antrag/t:einzeln: expected one element, found 2"):
        posten.apply(xml(POSTEN, einzeln=twice))


# --- the Wohngeld mapping with many income entries -------------------------------------------


@pytest.fixture(scope="module")
def wohngeld() -> Mapping:
    return MappingRegistry.load(ROOT / "mappings").get("xoev.wohngeld-mietzuschuss")


def grown(count: int, change: Callable[[int, Any], None] | None = None) -> bytes:
    """The Wohngeld fixture with ``count`` income entries; ``change(n, entry)`` edits entry n."""
    root = parse_xml(WOHNGELD_INPUT.read_bytes())
    template = root.find(f"{{{NS}}}G05000040")
    for old in root.findall(f"{{{NS}}}G05000040"):
        root.remove(old)
    anchor = root.find(f"{{{NS}}}G05000050")
    for n in range(count):
        entry = copy.deepcopy(template)
        entry.find(f"{{{NS}}}F05000041").text = ("01", "03", "99")[n % 3]
        entry.find(f"{{{NS}}}F05000042").text = f"{1000 + n}.{n % 100:02d}"
        entry.find(f"{{{NS}}}F05000043").text = f"Monat {n + 1}"
        if change is not None:
            change(n, entry)
        anchor.addprevious(entry)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def member(entry: Any, name: str) -> Any:
    return entry.find(f"{{{NS}}}{name}")


def test_a_grown_wohngeld_application_maps_every_entry(wohngeld: Mapping) -> None:
    income = items_of(wohngeld.apply(grown(120)), "einkommen")
    assert len(income) == 120
    assert [entry["betrag"] for entry in income[:2]] == [Decimal("1000.00"), Decimal("1001.01")]
    assert income[-1]["erlaeuterung"] == "Monat 120"
    assert {entry["art"] for entry in income} == {"01", "03", "99"}


def _drop_amount(entry: Any) -> None:
    entry.remove(member(entry, "F05000042"))


def _ambiguous_amount(entry: Any) -> None:
    member(entry, "F05000042").text = "1.850,00"


def _unknown_kind(entry: Any) -> None:
    member(entry, "F05000041").text = "42"


def _second_explanation(entry: Any) -> None:
    entry.append(copy.deepcopy(member(entry, "F05000043")))


@pytest.mark.parametrize(("n", "spoil", "key", "tag", "problem"), [
    pytest.param(23, _drop_amount, "betrag", "F05000042", "required field 'einkommen.betrag' is missing at {path}",
                 id="missing-amount"),
    pytest.param(31, _ambiguous_amount, "betrag", "F05000042",
                 "field 'einkommen.betrag' at {path}: ambiguous number: both ',' and '.' present", id="bad-amount"),
    pytest.param(0, _unknown_kind, "art", "F05000041",
                 "field 'einkommen.art' at {path}: code is not in code list 'einkommensart'", id="unknown-code"),
    pytest.param(39, _second_explanation, "erlaeuterung", "F05000043",
                 "field 'einkommen.erlaeuterung' at {path}: expected one node, found 2", id="repeated-member"),
])
def test_an_error_in_the_nth_income_names_that_repetition(wohngeld: Mapping, n: int, spoil: Callable[[Any], None],
                                                         key: str, tag: str, problem: str) -> None:
    with pytest.raises(MappingFailed) as caught:
        wohngeld.apply(grown(40, lambda index, entry: spoil(entry) if index == n else None))
    path = f"{INCOME_PATH}[{n + 1}]/./w:{tag}"
    assert caught.value.detail == problem.format(path=path)
    assert caught.value.extensions == {"field": f"einkommen.{key}", "path": path}

"""The fast path for groups of XML leaves (gateway/mapping/leaf_groups.py) against the general path.

Every result and every error must be the general path's: each test maps the same document
twice, once as the engine does and once with the fast path switched off, and compares
fields attribute by attribute (value types and key order included), warnings and errors.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from gateway.case.model import Field, trusted_field
from gateway.errors import GatewayError, MappingFailed
from gateway.mapping import MappedApplication, Mapping, MappingRegistry, parse_xml
from gateway.mapping.leaf_groups import LeafGroupPlan
from gateway.mapping.spec import FieldSpec, GroupSpec

from .mapping_helpers import Loader

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "fixtures" / "mappings"
WOHNGELD_INPUT = FIXTURES / "xoev.wohngeld-mietzuschuss" / "alleinerziehend-zwei-kinder.input.xml"
NS = "urn:xoev-de:xfall:standard:fim-s05000227_1.5"
INCOME_PATH = "/w:fim.S05000227.05000227001005/w:G05000040"


@pytest.fixture(scope="module")
def registry() -> MappingRegistry:
    return MappingRegistry.load(ROOT / "mappings")


@pytest.fixture(scope="module")
def wohngeld(registry: MappingRegistry) -> Mapping:
    return registry.get("xoev.wohngeld-mietzuschuss")


@dataclass
class Outcome:
    result: MappedApplication | None = None
    error: GatewayError | None = None


def _outcome(apply: Callable[[], MappedApplication]) -> Outcome:
    try:
        return Outcome(result=apply())
    except GatewayError as exc:
        return Outcome(error=exc)


def fast_and_general(apply: Callable[[], MappedApplication]) -> tuple[Outcome, Outcome]:
    fast = _outcome(apply)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(LeafGroupPlan, "map_item", lambda self, element: None)
        general = _outcome(apply)
    return fast, general


def assert_same_fields(fast: list[Field], general: list[Field]) -> None:
    assert len(fast) == len(general)
    for one, other in zip(fast, general, strict=True):
        assert type(one) is Field and type(other) is Field
        assert list(one.__dict__) == list(other.__dict__)  # attribute order is dump order
        for name, value in one.__dict__.items():
            if name != "items":
                assert (type(value), repr(value)) == (type(other.__dict__[name]), repr(other.__dict__[name])), name
        assert one.model_fields_set == other.model_fields_set
        assert one.__pydantic_extra__ is None and other.__pydantic_extra__ is None
        assert one.__pydantic_private__ is None and other.__pydantic_private__ is None
        assert (one.items is None) == (other.items is None)
        for mine, theirs in zip(one.items or [], other.items or [], strict=True):
            assert_same_fields(mine, theirs)


def assert_same(fast: Outcome, general: Outcome) -> None:
    if general.error is not None:
        assert fast.error is not None, "the fast path mapped what the general path refuses"
        assert type(fast.error) is type(general.error)
        assert fast.error.detail == general.error.detail
        assert fast.error.extensions == general.error.extensions
        return
    assert fast.error is None, f"the fast path refused: {fast.error}"
    assert fast.result is not None and general.result is not None
    assert fast.result == general.result
    assert fast.result.model_dump_json() == general.result.model_dump_json()
    assert fast.result.warnings == general.result.warnings
    assert_same_fields(fast.result.form, general.result.form)


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


def _walk_groups(fields: tuple[FieldSpec, ...]) -> Iterator[tuple[str, GroupSpec]]:
    for spec in fields:
        if spec.group is not None:
            yield spec.key, spec.group
            yield from ((f"{spec.key}.{key}", group) for key, group in _walk_groups(spec.group.fields))


def groups_of(mapping: Mapping) -> dict[str, GroupSpec]:
    return dict(_walk_groups(mapping._spec.fields))


# --- the repository's mappings and fixtures ---------------------------------------------


def _pairs() -> list[tuple[Mapping, Path, Path]]:
    return MappingRegistry.load(ROOT / "mappings").fixture_pairs(FIXTURES)


@pytest.mark.parametrize("pair", _pairs(), ids=lambda p: f"{p[0].id}/{p[1].name.split('.input.')[0]}")
def test_every_fixture_maps_the_same_on_both_paths(pair: tuple[Mapping, Path, Path]) -> None:
    mapping, source, _ = pair
    data = source.read_bytes()
    assert_same(*fast_and_general(lambda: mapping.apply(data)))


def test_the_xml_fixtures_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    mapped: list[str] = []
    original = LeafGroupPlan.map_item

    def counting(self: LeafGroupPlan, element: Any) -> Any:
        result = original(self, element)
        if result is not None:
            mapped.append(etree.QName(element).localname)
        return result

    monkeypatch.setattr(LeafGroupPlan, "map_item", counting)
    for mapping, source, _ in _pairs():
        if mapping.media_type == "application/xml":
            mapping.apply(source.read_bytes())
    assert {"G05000010", "G05000020", "G05000030", "G05000040", "G05000050", "G05000060"} <= set(mapped)


def test_a_grown_wohngeld_application_maps_the_same(wohngeld: Mapping) -> None:
    data = grown(120)
    fast, general = fast_and_general(lambda: wohngeld.apply(data))
    assert_same(fast, general)
    assert fast.result is not None
    income = next(f for f in fast.result.form if f.key == "einkommen")
    assert income.items is not None and len(income.items) == 120


# --- which groups get a plan ---------------------------------------------------------------


def test_the_wohngeld_groups_have_plans(wohngeld: Mapping) -> None:
    groups = groups_of(wohngeld)
    for key in ("wohnung", "miete", "haushaltsmitglieder", "einkommen", "bankverbindung", "erklaerungen"):
        assert groups[key].plan is not None, key
    income = groups["einkommen"].plan
    assert income is not None
    assert [m.key for m in income.members] == ["art", "betrag", "erlaeuterung"]
    assert set(income.slots) == {f"{{{NS}}}F05000041", f"{{{NS}}}F05000042", f"{{{NS}}}F05000043"}


def test_json_groups_have_no_plan(registry: MappingRegistry) -> None:
    for mapping_id in registry.ids():
        mapping = registry.get(mapping_id)
        if mapping.media_type == "application/json":
            assert all(group.plan is None for group in groups_of(mapping).values()), mapping_id


XML_MAPPING = """\
id: xoev.plan
version: 1
title: Plan
source: {format: "xoev:plan", media_type: application/xml, namespaces: {t: "urn:t"}}
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
  - key: berechnet
    label: Mit Berechnung
    type: group
    path: /t:antrag/t:einzeln
    fields:
      - {key: wert, label: Wert, path: ./t:wert, type: decimal}
      - {key: doppelt, label: Doppelt, type: decimal, compute: "wert * 2"}
  - key: attribut
    label: Mit Attribut
    type: group
    path: /t:antrag/t:einzeln
    fields: [{key: kennung, label: Kennung, path: ./@kennung}]
  - key: tiefer
    label: Zwei Schritte
    type: group
    path: /t:antrag
    fields: [{key: wert, label: Wert, path: ./t:einzeln/t:wert}]
  - key: verschachtelt
    label: Verschachtelt
    type: group
    path: /t:antrag
    fields:
      - {key: vorname, label: Vorname, path: ./t:vorname}
      - key: innen
        label: Innen
        type: group
        path: ./t:einzeln
        fields: [{key: wert, label: Wert, path: ./t:wert}]
  - key: ohne_pfad
    label: Ohne Pfad
    type: group
    fields: [{key: vorname, label: Vorname, path: ./t:vorname}]
  - {key: summe, label: Summe, type: decimal, compute: "sum(posten.betrag)"}
warnings:
  - {when: "len(posten) > 2", code: many-items, message: Viele Posten.}
"""
POSTEN = (
    "<t:art>a</t:art><t:stufe>a</t:stufe><t:betrag>12,50</t:betrag><t:anzahl>3</t:anzahl><t:ab>01.02.2025</t:ab>"
    "<t:am>2025-02-01T10:00:00</t:am><t:bezahlt>ja</t:bezahlt><notiz> frei </notiz><t:pflicht>x</t:pflicht>"
)


def xml(*posten: str, einzeln: str = '<t:einzeln kennung="k1"><t:wert>7</t:wert></t:einzeln>') -> bytes:
    items = "".join(f"<t:posten>{p}</t:posten>" for p in posten)
    return (
        f'<t:antrag xmlns:t="urn:t"><t:vorname>Erika</t:vorname><t:nachname>Muster</t:nachname>'
        f"{items}{einzeln}</t:antrag>"
    ).encode()


@pytest.fixture
def plan_mapping(load: Loader) -> Mapping:
    return load(XML_MAPPING).get("xoev.plan")


def test_only_groups_of_one_child_step_members_have_plans(plan_mapping: Mapping) -> None:
    groups = groups_of(plan_mapping)
    assert groups["posten"].plan is not None
    assert groups["einzeln"].plan is not None
    assert groups["verschachtelt.innen"].plan is not None
    for key in ("berechnet", "attribut", "tiefer", "verschachtelt", "ohne_pfad"):
        assert groups[key].plan is None, key


def test_members_with_the_same_path_share_their_element(plan_mapping: Mapping) -> None:
    plan = groups_of(plan_mapping)["posten"].plan
    assert plan is not None
    art, art_text = plan.members[0], plan.members[1]
    assert art.slot == art_text.slot
    assert len(plan.slots) == len(plan.members) - 1


@pytest.mark.parametrize(
    "posten",
    [
        pytest.param([POSTEN], id="all-values"),
        pytest.param(["<t:pflicht>x</t:pflicht>"], id="defaults-and-absent"),
        pytest.param([POSTEN, "<t:pflicht>y</t:pflicht><t:stufe/><t:betrag>  </t:betrag>", POSTEN], id="blank"),
        pytest.param([POSTEN.replace(">a</t:art>", ">z</t:art>"), POSTEN], id="unknown-code-warns"),
        pytest.param([POSTEN + "<t:fremd>1</t:fremd><!-- Kommentar -->"], id="foreign-element-and-comment"),
        pytest.param([POSTEN.replace("<t:anzahl>3</t:anzahl>", "<t:anzahl>3<t:x/></t:anzahl>")], id="child-element"),
        pytest.param([POSTEN.replace("<t:betrag>12,50</t:betrag>", "<t:betrag>1<t:x>2</t:x>,5</t:betrag>")],
                     id="mixed-content"),
        pytest.param([POSTEN.replace("frei", "frei<!-- c -->er")], id="comment-in-text"),
        pytest.param([POSTEN.replace("<t:ab>01.02.2025</t:ab>", "<t:ab>2025-02-01</t:ab>")], id="iso-date"),
        pytest.param([POSTEN.replace(">ja<", "> nein <")], id="boolean-words"),
        pytest.param([POSTEN.replace("<t:art>a</t:art>", "<t:art><![CDATA[b]]></t:art>")], id="cdata"),
        # refused items: the general path's messages and paths
        pytest.param([POSTEN, POSTEN.replace("<t:pflicht>x</t:pflicht>", "")], id="required-missing"),
        pytest.param([POSTEN, POSTEN.replace("<t:pflicht>x</t:pflicht>", "<t:pflicht> </t:pflicht>")],
                     id="required-blank"),
        pytest.param([POSTEN.replace("<t:stufe>a</t:stufe>", "<t:stufe>q</t:stufe>")], id="unknown-code-error"),
        pytest.param([POSTEN.replace("12,50", "1.200,50")], id="ambiguous-decimal"),
        pytest.param([POSTEN.replace("12,50", "zwölf")], id="bad-decimal"),
        pytest.param([POSTEN.replace(">3<", ">3,5<")], id="fractional-integer"),
        pytest.param([POSTEN.replace("01.02.2025", "31.02.2025")], id="bad-date"),
        pytest.param([POSTEN.replace("2025-02-01T10:00:00", "2025-02-01")], id="date-for-datetime"),
        pytest.param([POSTEN.replace(">ja<", ">vielleicht<")], id="bad-boolean"),
        pytest.param([POSTEN + "<t:betrag>1</t:betrag>"], id="repeated-member"),
        pytest.param([POSTEN + "<t:art>b</t:art>"], id="repeated-shared-member"),
    ],
)
def test_items_map_and_fail_the_same_on_both_paths(plan_mapping: Mapping, posten: list[str]) -> None:
    data = xml(*posten)
    assert_same(*fast_and_general(lambda: plan_mapping.apply(data)))


@pytest.mark.parametrize(
    "einzeln",
    [
        '<t:einzeln kennung="k"><t:wert> 7,5 </t:wert></t:einzeln>',
        "<t:einzeln><t:wert>sieben</t:wert></t:einzeln>",
        "<t:einzeln/>",
        "",
        "<t:einzeln><t:wert>1</t:wert></t:einzeln><t:einzeln><t:wert>2</t:wert></t:einzeln>",
    ],
)
def test_single_groups_map_and_fail_the_same_on_both_paths(plan_mapping: Mapping, einzeln: str) -> None:
    data = xml(POSTEN, einzeln=einzeln)
    assert_same(*fast_and_general(lambda: plan_mapping.apply(data)))


def test_warnings_keep_their_order_across_fast_and_general_items(plan_mapping: Mapping) -> None:
    unknown = POSTEN.replace(">a</t:art>", ">z</t:art>")
    data = xml(POSTEN, unknown, POSTEN, unknown.replace("<t:pflicht>x</t:pflicht>", "<t:pflicht>y</t:pflicht>"))
    fast, general = fast_and_general(lambda: plan_mapping.apply(data))
    assert_same(fast, general)
    assert fast.result is not None
    assert [w.code for w in fast.result.warnings] == ["unknown-code", "unknown-code", "many-items"]


# --- errors in the Nth repetition of the Wohngeld income group --------------------------------


def _wohngeld_error(wohngeld: Mapping, change: Callable[[int, Any], None]) -> MappingFailed:
    data = grown(40, change)
    fast, general = fast_and_general(lambda: wohngeld.apply(data))
    assert_same(fast, general)
    assert isinstance(fast.error, MappingFailed)
    return fast.error


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
    error = _wohngeld_error(wohngeld, lambda index, entry: spoil(entry) if index == n else None)
    path = f"{INCOME_PATH}[{n + 1}]/./w:{tag}"
    assert error.detail == problem.format(path=path)
    assert error.extensions == {"field": f"einkommen.{key}", "path": path}


# --- the fields the fast path makes ------------------------------------------------------------


def test_fast_fields_are_what_trusted_field_makes(wohngeld: Mapping) -> None:
    result = wohngeld.apply(grown(3))
    income = next(f for f in result.form if f.key == "einkommen")
    assert income.items is not None
    for item in income.items:
        for field in item:
            reference = trusted_field(dict(field.__dict__))
            assert type(field) is Field
            assert list(field.__dict__.items()) == list(reference.__dict__.items())
            assert field.model_fields_set == reference.model_fields_set == set(Field.model_fields)
            assert field.__pydantic_extra__ is None and field.__pydantic_private__ is None
            assert field == reference
            assert Field.model_validate(field.model_dump()) == field


def test_changing_a_fast_field_leaves_the_others_alone(wohngeld: Mapping) -> None:
    result = wohngeld.apply(grown(2))
    income = next(f for f in result.form if f.key == "einkommen")
    assert income.items is not None
    first, second = income.items[0][2], income.items[1][2]
    first.value = "geändert"
    first.code_label = None
    assert second.value == "Monat 2"
    assert first.model_fields_set == second.model_fields_set == set(Field.model_fields)
    copied = first.model_copy(update={"value": "kopiert"})
    assert copied.model_fields_set is not first.model_fields_set
    assert (copied.value, first.value) == ("kopiert", "geändert")

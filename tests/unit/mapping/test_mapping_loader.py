"""A bad mapping fails at load time with ConfigurationError naming file and line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gateway.errors import ConfigurationError
from gateway.mapping import MappingRegistry

from .mapping_helpers import HEADER, Loader, line_of

FILE = "mappings/portal/m.yaml"


def fails(load: Loader, text: str, marker: str, message: str, files: dict[str, str] | None = None) -> None:
    """Loading ``text`` must fail at the line containing ``marker`` with ``message``."""
    text = textwrap.dedent(text)
    with pytest.raises(ConfigurationError) as caught:
        load(text, files)
    expected = f"{FILE}:{line_of(text, marker)}: "
    assert str(caught.value).startswith(expected), str(caught.value)
    assert message in str(caught.value)


def with_fields(fields: str, extra: str = "") -> str:
    body = textwrap.indent(textwrap.dedent(fields), "  ")
    return HEADER + textwrap.dedent(extra) + "fields:\n" + body + ("" if body.endswith("\n") else "\n")


def test_valid_mapping_loads_with_its_metadata(load: Loader, tmp_path: Path) -> None:
    registry = load(with_fields("- {key: a, label: A, path: /a}"))
    mapping = registry.get("test.form")
    assert (mapping.id, mapping.version, mapping.title) == ("test.form", 1, "Testformular")
    assert (mapping.source_format, mapping.media_type) == ("test:form", "application/json")
    assert mapping.path == tmp_path / "mappings" / "portal" / "m.yaml"
    assert registry.ids() == ["test.form"]


def test_yaml_syntax_error(load: Loader) -> None:
    fails(load, with_fields("- {key: a, label: A, path: /a\n- {key: b}"), "{key: b}", "invalid YAML")


def test_duplicate_yaml_key(load: Loader) -> None:
    fails(load, with_fields("- key: a\n  label: A\n  path: /a\n  label: B"), "label: B", "duplicate key 'label'")


def test_codes_must_be_strings(load: Loader) -> None:
    text = with_fields("- {key: a, label: A, path: /a, codelist: liste}", "codelists:\n  liste:\n    01: Eins\n")
    fails(load, text, "01: Eins", "keys must be strings")


def test_unknown_top_level_key(load: Loader) -> None:
    fails(
        load,
        with_fields("- {key: a, label: A, path: /a}", "beschreibung: x\n"),
        "beschreibung",
        "unknown key",
    )


def test_missing_required_top_level_key(load: Loader) -> None:
    fails(load, HEADER, "id: test.form", "needs 'fields'")


def test_unknown_field_key(load: Loader) -> None:
    fails(
        load,
        with_fields("- key: a\n  label: A\n  path: /a\n  pfad: /b"),
        "pfad",
        "unknown key 'pfad' in field 'a'",
    )


def test_two_sources_in_one_value_spec(load: Loader) -> None:
    fails(
        load,
        with_fields("- key: a\n  label: A\n  path: /a\n  const: x"),
        "key: a",
        "exactly one of path, const, compute (found: path, const)",
    )


def test_no_source(load: Loader) -> None:
    fails(load, with_fields("- key: a\n  label: A"), "key: a", "(found: none)")


def test_duplicate_field_key(load: Loader) -> None:
    fails(
        load,
        with_fields("- {key: a, label: A, path: /a}\n- {key: a, label: B, path: /b}"),
        "label: B",
        "duplicate field key 'a'",
    )


def test_bad_field_key(load: Loader) -> None:
    fails(load, with_fields("- {key: Hund-Name, label: A, path: /a}"), "Hund-Name", "must match")


@pytest.mark.parametrize("key", ['"hund\\n"', '"hündin"', '"hund\\u0660"'])
def test_field_keys_are_checked_to_the_end_and_in_ascii(load: Loader, key: str) -> None:
    # a key the case model would refuse must not load: the engine builds fields unvalidated
    fails(load, with_fields(f"- {{key: {key}, label: A, path: /a}}"), "key", "must match")


def test_unknown_type(load: Loader) -> None:
    fails(load, with_fields("- key: a\n  label: A\n  path: /a\n  type: money"), "type: money", "type of 'a'")


def test_unknown_code_list(load: Loader) -> None:
    fails(
        load,
        with_fields("- key: a\n  label: A\n  path: /a\n  codelist: farben"),
        "codelist: farben",
        "unknown code list 'farben'",
    )


def test_type_code_needs_a_code_list(load: Loader) -> None:
    fails(load, with_fields("- key: a\n  label: A\n  path: /a\n  type: code"), "type: code", "go together")


def test_bad_json_pointer(load: Loader) -> None:
    fails(load, with_fields("- key: a\n  label: A\n  path: hund/name"), "path: hund/name", "not a JSON Pointer")


def test_bad_expression(load: Loader) -> None:
    fails(
        load,
        with_fields("- {key: a, label: A, path: /a}\n- key: b\n  label: B\n  compute: a.__class__"),
        "compute:",
        "only allowed on a group",
    )


def test_expression_may_not_use_later_fields(load: Loader) -> None:
    fails(
        load,
        with_fields("- {key: a, label: A, compute: b + 1}\n- {key: b, label: B, path: /b}"),
        "compute: b + 1",
        "unknown name 'b'",
    )


def test_group_members_see_only_their_siblings(load: Loader) -> None:
    text = with_fields("""\
        - {key: top, label: T, path: /t}
        - key: g
          label: G
          type: group
          fields:
            - {key: x, label: X, compute: top}
        """)
    fails(load, text, "compute: top", "unknown name 'top'")


def test_bad_fim_id(load: Loader) -> None:
    fails(
        load,
        with_fields("- key: a\n  label: A\n  path: /a\n  fim_id: X123"),
        "fim_id",
        "fim_id must look like",
    )


@pytest.mark.parametrize("fim", ['"F12345678\\n"', '"F\\u0661\\u0662\\u0663\\u0664\\u0665\\u0666\\u0667\\u0668"'])
def test_fim_ids_are_checked_to_the_end_and_in_ascii(load: Loader, fim: str) -> None:
    fails(load, with_fields(f"- key: a\n  label: A\n  path: /a\n  fim_id: {fim}"), "fim_id", "fim_id must look like")


def test_bad_date_format(load: Loader) -> None:
    fails(
        load,
        with_fields("- key: a\n  label: A\n  path: /a\n  type: date\n  formats: ['%d.%m']\n"),
        "formats",
        "needs a year",
    )


def test_formats_only_for_dates(load: Loader) -> None:
    fails(
        load,
        with_fields("- key: a\n  label: A\n  path: /a\n  formats: ['%d.%m.%Y']"),
        "formats",
        "only apply to date",
    )


def test_default_must_fit_the_type(load: Loader) -> None:
    fails(
        load,
        with_fields("- key: a\n  label: A\n  path: /a\n  type: integer\n  default: viele"),
        "default:",
        "does not fit type integer",
    )


def test_const_code_must_be_in_the_list(load: Loader) -> None:
    text = with_fields(
        "- key: a\n  label: A\n  const: rot\n  codelist: farben", "codelists:\n  farben: {gruen: Grün}\n"
    )
    fails(load, text, "const: rot", "not in code list 'farben'")


def test_repeated_group_needs_a_path(load: Loader) -> None:
    fails(
        load,
        with_fields("- key: g\n  label: G\n  type: group\n  repeat: true\n  fields: [{key: x, label: X, path: /x}]"),
        "repeat: true",
        "needs a path",
    )


def test_group_with_value_keys(load: Loader) -> None:
    fails(
        load,
        with_fields("- key: g\n  label: G\n  type: group\n  codelist: x\n  fields: [{key: x, label: X, path: /x}]"),
        "codelist: x",
        "unknown key 'codelist' in group 'g'",
    )


def test_organisation_attribute_on_a_natural_person(load: Loader) -> None:
    text = (
        HEADER.replace("  family_name:", "  name: {path: /firma}\n  family_name:")
        + "fields: [{key: a, label: A, path: /a}]\n"
    )
    fails(load, text, "name: {path: /firma}", "does not belong to a natural_person")


def test_natural_person_needs_its_names(load: Loader) -> None:
    text = (
        HEADER.replace("  family_name: {path: /nachname, required: true}\n", "")
        + "fields: [{key: a, label: A, path: /a}]\n"
    )
    fails(load, text, "applicant:", "needs 'family_name'")


def test_dynamic_kind_code_list_labels_must_be_kinds(load: Loader) -> None:
    text = (
        HEADER.replace("  kind: natural_person", "  kind: {path: /art, codelist: art}\n  name: {path: /firma}")
        + "codelists:\n  art: {p: natural_person, f: firma}\nfields: [{key: a, label: A, path: /a}]\n"
    )
    fails(load, text, "kind: {path: /art", "can only be natural_person, organisation")


def test_present_is_refused_on_the_applicant(load: Loader) -> None:
    text = (
        HEADER.replace("  kind: natural_person", "  present: /a\n  kind: natural_person")
        + "fields: [{key: a, label: A, path: /a}]\n"
    )
    fails(load, text, "present: /a", "unknown key 'present' in applicant")


def test_reply_channel_kind_constant_must_be_a_channel(load: Loader) -> None:
    text = with_fields(
        "- {key: a, label: A, path: /a}",
        "reply_channel:\n  kind: {const: brieftaube}\n  address: {path: /a}\n",
    )
    fails(load, text, "kind: {const: brieftaube}", "can only be email")


def test_payment_needs_a_status(load: Loader) -> None:
    fails(
        load,
        with_fields("- {key: a, label: A, path: /a}", "payment:\n  amount: {path: /betrag}\n"),
        "payment:",
        "payment needs 'status'",
    )


def test_warning_names_unknown_field(load: Loader) -> None:
    text = with_fields("- {key: a, label: A, path: /a}") + "warnings:\n  - {when: a, code: x, field: b, message: M}\n"
    fails(load, text, "field: b", "unknown field 'b'")


def test_warning_code_format(load: Loader) -> None:
    text = with_fields("- {key: a, label: A, path: /a}") + "warnings:\n  - {when: a, code: Gross, message: M}\n"
    fails(load, text, "code: Gross", "warning code")


def test_bad_mapping_id_and_version(load: Loader) -> None:
    fails(
        load,
        with_fields("- {key: a, label: A, path: /a}").replace("id: test.form", "id: Test Form"),
        "id: Test",
        "must look like",
    )
    fails(
        load,
        with_fields("- {key: a, label: A, path: /a}").replace("version: 1", "version: eins"),
        "version:",
        "positive integer",
    )


def test_unknown_media_type(load: Loader) -> None:
    text = with_fields("- {key: a, label: A, path: /a}").replace("application/json", "text/csv")
    fails(load, text, "source:", "media_type must be one of")


def test_namespaces_only_for_xml(load: Loader) -> None:
    text = with_fields("- {key: a, label: A, path: /a}").replace(
        "media_type: application/json}", "media_type: application/json, namespaces: {x: 'urn:x'}}"
    )
    fails(load, text, "source:", "namespaces only apply to XML")


XML_HEADER = (
    HEADER.replace("media_type: application/json}", "media_type: application/xml, namespaces: {a: 'urn:antrag'}}")
    .replace("/vorname", "/a:antrag/a:vorname")
    .replace("/nachname", "/a:antrag/a:nachname")
)


def test_bad_xpath(load: Loader) -> None:
    fails(load, XML_HEADER + "fields:\n  - {key: a, label: A, path: 'a:antrag/['}\n", "key: a", "invalid XPath")


def test_xpath_with_undeclared_prefix(load: Loader) -> None:
    fails(
        load,
        XML_HEADER + "fields:\n  - {key: a, label: A, path: 'b:antrag/b:x'}\n",
        "key: a",
        "Undefined namespace prefix",
    )


def test_xpath_with_unknown_function(load: Loader) -> None:
    fails(
        load,
        XML_HEADER + "fields:\n  - {key: a, label: A, path: 'document(\"x\")'}\n",
        "key: a",
        "invalid XPath",
    )


def test_schema_file_missing_or_outside(load: Loader) -> None:
    base = with_fields("- {key: a, label: A, path: /a}")
    fails(
        load,
        base.replace("application/json}", "application/json, schema: fehlt.json}"),
        "source:",
        "not found",
    )
    fails(
        load,
        base.replace("application/json}", "application/json, schema: ../m.json}"),
        "source:",
        "outside schemas/",
    )
    fails(
        load,
        base.replace("application/json}", "application/json, schema: x.xsd}"),
        "source:",
        "needs a .json",
    )


def test_schema_with_unsupported_keyword(load: Loader) -> None:
    text = with_fields("- {key: a, label: A, path: /a}").replace(
        "application/json}", "application/json, schema: s.json}"
    )
    fails(
        load,
        text,
        "source:",
        "unsupported keyword 'iff' at /properties/a",
        files={"schemas/s.json": '{"type": "object", "properties": {"a": {"iff": true}}}'},
    )


def test_code_list_file_must_exist_and_live_in_codelists(load: Loader) -> None:
    fails(
        load,
        with_fields("- {key: a, label: A, path: /a}", "codelists:\n  l: {file: codelists/fehlt.yaml}\n"),
        "file: codelists",
        "not found",
    )
    fails(
        load,
        with_fields("- {key: a, label: A, path: /a}", "codelists:\n  l: {file: portal/m.yaml}\n"),
        "file: portal",
        "live in codelists",
    )


def test_error_inside_a_code_list_file_names_that_file(load: Loader) -> None:
    with pytest.raises(ConfigurationError, match=r"^mappings/codelists/f\.yaml:3: label of code 'b'"):
        load(
            with_fields("- {key: a, label: A, path: /a}", "codelists:\n  l: {file: codelists/f.yaml}\n"),
            files={"mappings/codelists/f.yaml": "# Farben\na: Rot\nb: ''\n"},
        )


def test_duplicate_mapping_ids_across_files(load: Loader) -> None:
    text = with_fields("- {key: a, label: A, path: /a}")
    load(text, name="a.yaml")
    with pytest.raises(ConfigurationError, match=r"m\.yaml:1: duplicate mapping id 'test.form' \(also in .*a\.yaml\)"):
        load(text)


def test_yml_files_are_refused(load: Loader) -> None:
    with pytest.raises(ConfigurationError, match=r"must end in \.yaml"):
        load(with_fields("- {key: a, label: A, path: /a}"), name="m.yml")


def test_catalog_and_codelists_are_not_mappings(load: Loader) -> None:
    registry = load(
        with_fields("- {key: a, label: A, path: /a}"),
        files={
            "mappings/catalog/tgh.yaml": "tenant: {ars: '150905350535'}\n",
            "mappings/codelists/x.yaml": "a: A\n",
        },
    )
    assert registry.ids() == ["test.form"]


def test_unknown_mapping_and_missing_root(load: Loader, tmp_path: Path) -> None:
    registry = load(with_fields("- {key: a, label: A, path: /a}"))
    with pytest.raises(ConfigurationError, match="unknown mapping 'fehlt'"):
        registry.get("fehlt")
    with pytest.raises(ConfigurationError, match="not found"):
        MappingRegistry.load(tmp_path / "nirgends")


def test_date_format_that_cannot_read_its_own_output(load: Loader) -> None:
    fails(
        load,
        with_fields("- key: a\n  label: A\n  path: /a\n  type: date\n  formats: ['%Y-%m-%d %z']\n"),
        "formats",
        "cannot read its own output",
    )


def test_hidden_files_are_skipped(load: Loader) -> None:
    registry = load(with_fields("- {key: a, label: A, path: /a}"), files={"mappings/portal/.#m.yaml": "kaputt: ["})
    assert registry.ids() == ["test.form"]


def test_fixture_pairs(load: Loader, tmp_path: Path) -> None:
    registry = load(with_fields("- {key: a, label: A, path: /a}"))
    fixtures = tmp_path / "fixtures"
    folder = fixtures / "test.form"
    folder.mkdir(parents=True)
    for name in ("b.input.json", "b.expected.json", "a.input.xml", "a.expected.json", "notiz.txt"):
        (folder / name).write_text("{}")
    found = [(m.id, i.name, e.name) for m, i, e in registry.fixture_pairs(fixtures)]
    assert found == [("test.form", "a.input.xml", "a.expected.json"), ("test.form", "b.input.json", "b.expected.json")]
    assert registry.fixture_pairs(tmp_path / "fehlt") == []

    (folder / "c.input.json").write_text("{}")
    with pytest.raises(ConfigurationError, match="fixtures without their pair: c"):
        registry.fixture_pairs(fixtures)
    (folder / "c.input.json").unlink()
    (fixtures / "test.fehlt").mkdir()
    with pytest.raises(ConfigurationError, match=r"fixtures for unknown mapping 'test\.fehlt'"):
        registry.fixture_pairs(fixtures)

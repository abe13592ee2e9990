"""The XÖV formats: fixtures are schema-valid, and the channel's validator (libxml2, streaming)
agrees with an independent implementation (xmlschema) on valid and invalid payloads."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import xmlschema
from lxml import etree

from adapters.xta import samples
from adapters.xta.formats import Formats
from adapters.xta.plugin import load_options
from adapters.xta.testing import options
from gateway import safexml
from gateway.errors import InvalidPayload
from tests.unit.xta.conftest import REPO


def _xmlschema_accepts(xsd: Path, root: etree._Element) -> bool:
    schema = xmlschema.XMLSchema10(str(xsd), defuse="always", allow="sandbox")
    return bool(schema.is_valid(xmlschema.XMLResource(root, allow="none", defuse="always")))


FORMATS = Formats.from_options(load_options(options()), REPO)
KINDS = {"wohngeld": samples.WOHNGELD, "gewerbe": samples.GEWERBE}


def _remove(path: str) -> Callable[[etree._Element, dict[str, str]], None]:
    def change(root: etree._Element, ns: dict[str, str]) -> None:
        node = root.xpath(path, namespaces=ns)[0]
        node.getparent().remove(node)
    return change


def _set(path: str, text: str) -> Callable[[etree._Element, dict[str, str]], None]:
    def change(root: etree._Element, ns: dict[str, str]) -> None:
        root.xpath(path, namespaces=ns)[0].text = text
    return change


MUTATIONS = {
    "wohngeld": [_remove("/*/p:G05000001/p:F60000227"), _set("//p:F60000246", "3951"),
                 _set("//p:F05000021", "-1.00"), _set("//p:F05000051", "DE-no-iban"),
                 _set("//p:F05000012", "drei"), _set("//p:leikaSchluessel", "12345")],
    "gewerbe": [_set("//p:rechtsform", "aktiengesellschaft"), _remove("//p:anzeige/p:grund"),
                _set("//p:beginnDerTaetigkeit", "01.07.2025"), _set("//p:vollzeitbeschaeftigte", "-1")],
}


@pytest.mark.parametrize("name", sorted(KINDS))
def test_fixtures_are_valid_for_both_validators(name: str) -> None:
    kind = KINDS[name]
    fmt = FORMATS.get(kind.code, kind.payload_schema)
    fixtures = kind.fixtures()
    assert len(fixtures) >= 3
    for path in fixtures:
        data = path.read_bytes()
        root = safexml.parse(data)
        fmt.validate(root, data)
        assert _xmlschema_accepts(fmt.schema.path, root), path.name


@pytest.mark.parametrize("name", sorted(KINDS))
def test_validators_agree_on_invalid_payloads(name: str) -> None:
    kind = KINDS[name]
    fmt = FORMATS.get(kind.code, kind.payload_schema)
    for index, mutate in enumerate(MUTATIONS[name]):
        root = safexml.parse(kind.fixtures()[0].read_bytes())
        mutate(root, {"p": kind.payload_schema})
        data = etree.tostring(root)
        with pytest.raises(InvalidPayload, match="not valid against its schema at /"):
            fmt.validate(safexml.parse(data), data)
        assert not _xmlschema_accepts(fmt.schema.path, root), f"mutation {index}"


def test_every_configured_format_is_known() -> None:
    for kind in (samples.WOHNGELD, samples.GEWERBE):
        assert FORMATS.get(kind.code, kind.payload_schema).source_format == "xta:" + kind.code

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest

from gateway.case.model import AccountIdentity, TrustLevel
from gateway.catalog import Catalog
from gateway.errors import (
    ChannelNotAllowed,
    ConfigurationError,
    TrustLevelTooLow,
    UnknownService,
    UnknownTenant,
    UnsupportedFormat,
)
from tests.conftest import TENANT, TESTDATA


class FakeMappings:
    formats: ClassVar[dict[str, str]] = {"portal.test-hund": "portal:test-hund",
                                         "portal.test-gewerbe": "portal:test-gewerbe"}

    def source_format_of(self, mapping_id: str) -> str:
        try:
            return self.formats[mapping_id]
        except KeyError:
            raise ConfigurationError(f"unknown mapping {mapping_id}") from None


@pytest.fixture
def catalog() -> Catalog:
    return Catalog.load(TESTDATA / "mappings" / "catalog", FakeMappings())


def account(level: TrustLevel) -> AccountIdentity:
    return AccountIdentity(provider="bundid", pseudonym="p", trust_level=level)


def route(catalog: Catalog, **kw: object):  # type: ignore[no-untyped-def]
    args: dict[str, object] = {"tenant_ars": TENANT, "leika": "99050012104000", "source_format": "portal:test-gewerbe",
                               "channel": "portal", "account": account(TrustLevel.HOCH), "mappings": FakeMappings()}
    args.update(kw)
    return catalog.route(**args)  # type: ignore[arg-type]


def test_route_finds_service_mapping_and_queue(catalog: Catalog) -> None:
    found = route(catalog)
    assert (found.service.queue, found.mapping_id, found.tenant.reference_prefix) == (
        "gewerbeamt", "portal.test-gewerbe", "TGH")


def test_route_without_leika_uses_the_source_format(catalog: Catalog) -> None:
    assert route(catalog, leika=None, source_format="portal:test-hund").service.leika == "99108008001000"


@pytest.mark.parametrize("kw,error", [
    ({"tenant_ars": "999999999999"}, UnknownTenant),
    ({"leika": "99999999999999"}, UnknownService),
    ({"channel": "xta"}, ChannelNotAllowed),
    ({"account": None}, TrustLevelTooLow),
    ({"account": account(TrustLevel.NIEDRIG)}, TrustLevelTooLow),
    ({"source_format": "portal:test-hund"}, UnsupportedFormat),
])
def test_route_refuses_with_the_reason(catalog: Catalog, kw: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        route(catalog, **kw)


def test_trust_level_equal_to_minimum_is_enough(catalog: Catalog) -> None:
    assert route(catalog, account=account(TrustLevel.SUBSTANTIELL)).service.leika == "99050012104000"


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "t.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def test_bad_catalog_names_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, 'tenant:\n  ars: "150905350535"\n  name: X\n  reference_prefix: TGH\nservices:\n'
                    '  - leika: "99050012104000"\n    name: G\n    mappings: [portal.nope]\n'
                    '    channels: [portal]\n    queue: q\n')
    with pytest.raises(ConfigurationError, match=r"t\.yaml:8: unknown mapping 'portal\.nope'"):
        Catalog.load(tmp_path, FakeMappings())


def test_invalid_leika_names_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, 'tenant:\n  ars: "150905350535"\n  name: X\n  reference_prefix: TGH\nservices:\n'
                    '  - leika: "12"\n    name: G\n    mappings: [portal.test-hund]\n'
                    '    channels: [portal]\n    queue: q\n')
    with pytest.raises(ConfigurationError, match=r"t\.yaml:6: services\.0\.leika"):
        Catalog.load(tmp_path, FakeMappings())


def test_broken_yaml_names_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, "tenant:\n  ars: [unclosed\n")
    with pytest.raises(ConfigurationError, match=r"t\.yaml:3: invalid YAML"):
        Catalog.load(tmp_path, FakeMappings())


def test_sender_vouched_channels_skip_the_trust_check(tmp_path: Path) -> None:
    write(tmp_path, 'tenant:\n  ars: "150905350535"\n  name: X\n  reference_prefix: TGH\nservices:\n'
                    '  - leika: "99050012104000"\n    name: G\n    mappings: [portal.test-gewerbe]\n'
                    '    min_trust_level: hoch\n    channels: [portal, fitconnect]\n'
                    '    trust_vouched_by: [fitconnect]\n    queue: q\n')
    catalog = Catalog.load(tmp_path, FakeMappings())
    assert route(catalog, channel="fitconnect", account=None).service.leika == "99050012104000"
    with pytest.raises(TrustLevelTooLow):
        route(catalog, channel="portal", account=None)

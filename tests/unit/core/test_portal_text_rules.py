"""Characters in portal applications: control and bidi characters refused with the field's
JSON Pointer (never the value), TAB/LF/CR only in multi-line text, everything in NFC."""

from __future__ import annotations

import json
import unicodedata
from typing import Any

import pytest

from adapters.portal.channel import parse_envelope
from gateway.errors import InvalidPayload
from gateway.mapping import MappingRegistry
from tests.conftest import REPO, TENANT

BRAUCHTUMSFEUER = MappingRegistry.load(REPO / "mappings").multiline_patterns


def envelope(data: dict[str, Any], **extra: Any) -> bytes:
    body = {"tenant": TENANT, "service": "99108008001000", "form": "brauchtumsfeuer",
            "submitted_at": "2026-11-21T09:30:00+01:00", "data": data, **extra}
    return json.dumps(body).encode()


def refused(raw: bytes) -> InvalidPayload:
    with pytest.raises(InvalidPayload) as caught:
        parse_envelope(raw, multiline_patterns=BRAUCHTUMSFEUER)
    return caught.value


@pytest.mark.parametrize("char", ["\u0000", "\u001b", "\u007f", "\u0085", "\u009b", "\r", "\n", "\t"],
                         ids=["NUL", "ESC", "DEL", "NEL", "CSI", "CR", "LF", "TAB"])
def test_control_characters_in_single_line_fields_are_refused(char: str) -> None:
    error = refused(envelope({"veranstalter": {"nachname": f"Muster{char}mann"}}))
    assert error.status == 422
    assert error.extensions["field"] == "/data/veranstalter/nachname"
    assert "control character" in error.detail
    assert "Muster" not in json.dumps(error.to_problem())


@pytest.mark.parametrize("char", ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067",
                                  "\u2068", "\u2069"])
def test_bidi_controls_are_refused_everywhere(char: str) -> None:
    for raw, where in ((envelope({"ort": {"lagebeschreibung": f"hinter{char}dem Sportplatz"}}),
                        "/data/ort/lagebeschreibung"),
                       (envelope({}, account={"provider": "bundid", "pseudonym": f"p{char}x",
                                              "trust_level": "hoch"}), "/account/pseudonym")):
        error = refused(raw)
        assert error.extensions["field"] == where
        assert "bidirectional" in error.detail


def test_line_breaks_and_tabs_are_kept_in_multi_line_text() -> None:
    text = "Wiese hinter dem Sportplatz,\r\n\t50 m vom Waldrand"
    parsed = parse_envelope(envelope({"ort": {"lagebeschreibung": text}},
                                     attachments=[{"id": "a", "filename": "lage.pdf", "media_type": "application/pdf",
                                                   "sha512": "0" * 128, "description": "Karte\nmit Feuerstelle"}]),
                            multiline_patterns=BRAUCHTUMSFEUER)
    assert parsed.data["ort"]["lagebeschreibung"] == text
    assert parsed.attachments[0].description == "Karte\nmit Feuerstelle"
    # other control characters stay refused there
    assert refused(envelope({"ort": {"lagebeschreibung": "a\u0007b"}})).extensions["field"] == \
        "/data/ort/lagebeschreibung"


def test_line_breaks_outside_multi_line_fields_are_refused_in_arrays_and_the_envelope() -> None:
    assert refused(envelope({"brennmaterial": ["baumschnitt", "stroh\n"]})).extensions["field"] == \
        "/data/brennmaterial/1"
    assert refused(envelope({}, reply_channel={"kind": "email", "address": "a@b.de\r\nBcc: x@y.de"})
                   ).extensions["field"] == "/reply_channel/address"


def test_member_names_are_checked_and_pointers_escaped() -> None:
    assert refused(envelope({"a/b": {"c~d": "x\u0000"}})).extensions["field"] == "/data/a~1b/c~0d"
    assert refused(envelope({"bad\u202ekey": "x"})).extensions["field"] == "/data/bad\u202ekey"


def test_strings_are_normalised_to_nfc() -> None:
    decomposed = "Jo\u0308rg Mu\u0308ller"  # o + combining diaeresis
    assert not unicodedata.is_normalized("NFC", decomposed)
    parsed = parse_envelope(envelope({"veranstalter": {"nachname": decomposed}}, account={
        "provider": "bundid", "pseudonym": decomposed, "trust_level": "hoch"}), multiline_patterns=BRAUCHTUMSFEUER)
    assert parsed.data["veranstalter"]["nachname"] == "Jörg Müller"
    assert parsed.account is not None and parsed.account.pseudonym == "Jörg Müller"


def test_multiline_fields_come_from_the_mapping_files() -> None:
    assert BRAUCHTUMSFEUER("portal:brauchtumsfeuer") == frozenset({("ort", "lagebeschreibung")})
    assert ("begruendung",) in BRAUCHTUMSFEUER("portal:kitagebuehren-erstattung")
    assert BRAUCHTUMSFEUER("portal:no-such-form") == frozenset()


def test_an_armored_openpgp_key_keeps_its_lines_and_the_address_stays_one_line() -> None:
    key = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQGNBGsU\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n"
    parsed = parse_envelope(envelope({}, reply_channel={"kind": "email", "address": "a@b.de", "pgp_public_key": key}))
    assert parsed.reply_channel is not None and parsed.reply_channel.pgp_public_key == key
    assert refused(envelope({}, reply_channel={"kind": "email", "address": "a@b.de\n",
                                               "pgp_public_key": key})).extensions["field"] == "/reply_channel/address"


@pytest.mark.parametrize("char", ["\u2028", "\u2029"], ids=["LS", "PS"])
def test_line_and_paragraph_separators_only_in_multi_line_text(char: str) -> None:
    error = refused(envelope({"veranstalter": {"nachname": f"Muster{char}mann"}}))
    assert error.extensions["field"] == "/data/veranstalter/nachname"
    assert error.detail.endswith("contains a line or paragraph separator")
    text = f"Wiese hinter dem Sportplatz{char}50 m vom Waldrand"
    parsed = parse_envelope(envelope({"ort": {"lagebeschreibung": text}}), multiline_patterns=BRAUCHTUMSFEUER)
    assert parsed.data["ort"]["lagebeschreibung"] == text


@pytest.mark.parametrize("char", ["\u200e", "\u200f", "\u061c"], ids=["LRM", "RLM", "ALM"])
def test_bidi_marks_are_refused_everywhere(char: str) -> None:
    for data, where in (({"veranstalter": {"nachname": f"Muster{char}mann"}}, "/data/veranstalter/nachname"),
                        ({"ort": {"lagebeschreibung": f"hinter{char}dem Sportplatz"}}, "/data/ort/lagebeschreibung")):
        error = refused(envelope(data))
        assert error.extensions["field"] == where
        assert error.detail.endswith("contains a bidirectional formatting character")


@pytest.mark.parametrize("char", ["\ufeff", "\U000e0041", "\U000e0000", "\U000e007f", "\u200b"],
                         ids=["BOM", "TAG-A", "TAG-first", "CANCEL-TAG", "ZWSP"])
def test_invisible_characters_are_refused_everywhere(char: str) -> None:
    for data, where in (({"veranstalter": {"nachname": f"Muster{char}mann"}}, "/data/veranstalter/nachname"),
                        ({"ort": {"lagebeschreibung": f"hinter{char}dem Sportplatz"}}, "/data/ort/lagebeschreibung"),
                        ({f"key{char}": "x"}, f"/data/key{char}")):
        error = refused(envelope(data))
        assert error.extensions["field"] == where
        assert error.detail.endswith("contains an invisible formatting character")
        assert "Muster" not in json.dumps(error.to_problem())


@pytest.mark.parametrize("text", ["\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian: mi-khaham (ZWNJ)
                                  "\u0915\u094d\u200d\u0937",  # Devanagari: ZWJ inside a conjunct
                                  "\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627"],  # Hebrew, Arabic
                         ids=["ZWNJ-Persian", "ZWJ-Devanagari", "right-to-left"])
def test_joiners_and_right_to_left_scripts_are_kept(text: str) -> None:
    parsed = parse_envelope(envelope({"veranstalter": {"nachname": text}}), multiline_patterns=BRAUCHTUMSFEUER)
    assert parsed.data["veranstalter"]["nachname"] == unicodedata.normalize("NFC", text)

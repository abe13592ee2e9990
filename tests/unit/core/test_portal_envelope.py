"""The portal's application envelope: what it accepts and what it refuses (and how it says so)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from pydantic import ValidationError

from adapters.portal.channel import parse_envelope
from adapters.portal.envelope import ALLOWED_MEDIA_TYPES, AttachmentRef, PortalApplication
from adapters.portal.options import PortalOptions
from gateway.errors import InvalidPayload

SHA = "ab" * 64


def envelope(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"tenant": "150905350535", "service": "99108008001000", "form": "test-hund",
                              "submitted_at": "2026-11-21T10:00:00Z", "data": {"hund": {"name": "Bello"}}}
    values.update(overrides)
    return values


def attachment(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"id": "nachweis", "filename": "nachweis.pdf", "media_type": "application/pdf",
                              "sha512": SHA}
    values.update(overrides)
    return values


def errors_of(data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    with pytest.raises(ValidationError) as caught:
        PortalApplication.model_validate(data)
    return [(e["loc"], e["type"]) for e in caught.value.errors()]


def test_minimal_envelope_and_defaults() -> None:
    parsed = PortalApplication.model_validate(envelope())
    assert parsed.tenant == "150905350535"
    assert parsed.request_id is None
    assert parsed.account is None and parsed.reply_channel is None and parsed.payment is None
    assert parsed.attachments == []
    assert parsed.data == {"hund": {"name": "Bello"}}
    assert parsed.source_format == "portal:test-hund"
    assert parsed.submitted_at == dt.datetime(2026, 11, 21, 10, tzinfo=dt.UTC)


def test_full_envelope_from_json() -> None:
    raw = json.dumps(envelope(
        request_id="portal:2026-11-21:0001", attachments=[attachment(purpose="form", description="Scan")],
        account={"provider": "bundid", "pseudonym": "bpk2-x", "trust_level": "hoch"},
        reply_channel={"kind": "email", "address": "antrag@example.org"},
        payment={"status": "paid", "amount": "12.50", "method": "giropay"})).encode()
    parsed = parse_envelope(raw)
    assert parsed.request_id == "portal:2026-11-21:0001"
    assert parsed.attachments[0].purpose == "form"
    assert parsed.attachments[0].description == "Scan"
    assert parsed.account is not None and parsed.account.trust_level.value == "hoch"
    assert parsed.reply_channel is not None and parsed.reply_channel.kind == "email"
    assert parsed.payment is not None and str(parsed.payment.amount) == "12.50"


# -- file names -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["nachweis.pdf", "Antrag 2026 (1).pdf", "Übersicht_Grundstück.pdf", "a",
                                  "name.with.dots.pdf", "x" * 255, "résumé.docx", "a..b.pdf"])
def test_plain_file_names_are_accepted(name: str) -> None:
    assert AttachmentRef.model_validate(attachment(filename=name)).filename == name


@pytest.mark.parametrize("name", [
    "../../etc/passwd", "a/b.pdf", "..\\x.pdf", "dir\\file.pdf", "/etc/passwd", "C:\\boot.ini",
    ".", "..", ".hidden", ".htaccess",
    "a\x00.pdf", "a\n.pdf", "a\r.pdf", "a\t.pdf", "a\x1b[2J.pdf", "a\x7f.pdf",
    "", "x" * 256,
])
def test_unsafe_file_names_are_refused(name: str) -> None:
    with pytest.raises(ValidationError) as caught:
        AttachmentRef.model_validate(attachment(filename=name))
    assert [e["loc"] for e in caught.value.errors()] == [("filename",)]


@pytest.mark.parametrize("name", ["a\u0085.pdf", "a\u009b31m.pdf", "a\u0080.pdf", "a\u009f.pdf"],
                         ids=["NEL", "CSI", "PAD", "APC"])
def test_c1_control_characters_in_file_names_are_refused(name: str) -> None:
    """U+0080-U+009F are control characters too (Unicode category Cc): NEL breaks lines,
    CSI starts terminal escape sequences in logs and consoles."""
    with pytest.raises(ValidationError):
        AttachmentRef.model_validate(attachment(filename=name))


def test_control_characters_escaped_in_json_are_refused() -> None:
    raw = json.dumps(envelope(attachments=[attachment(filename="a\u0000b.pdf")])).encode()
    assert b"\\u0000" in raw
    with pytest.raises(InvalidPayload) as caught:
        parse_envelope(raw)
    assert caught.value.extensions["field"] == "/attachments/0/filename"
    assert "control character" in caught.value.detail


# -- media types ----------------------------------------------------------------------------------

@pytest.mark.parametrize("media_type", sorted(ALLOWED_MEDIA_TYPES))
def test_allowed_media_types(media_type: str) -> None:
    assert AttachmentRef.model_validate(attachment(media_type=media_type)).media_type == media_type


@pytest.mark.parametrize("media_type", ["text/html", "application/x-msdownload", "image/svg+xml",
                                        "application/octet-stream", "APPLICATION/PDF", "application/pdf; x=1",
                                        " application/pdf", ""])
def test_other_media_types_are_refused(media_type: str) -> None:
    with pytest.raises(ValidationError) as caught:
        AttachmentRef.model_validate(attachment(media_type=media_type))
    assert [e["loc"] for e in caught.value.errors()] == [("media_type",)]


def test_allowed_media_types_are_a_closed_list() -> None:
    assert "application/pdf" in ALLOWED_MEDIA_TYPES
    assert "text/html" not in ALLOWED_MEDIA_TYPES
    assert all(m == m.lower().strip() for m in ALLOWED_MEDIA_TYPES)


# -- submitted_at ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value,expected", [
    ("2026-11-21T10:00:00Z", dt.datetime(2026, 11, 21, 10, tzinfo=dt.UTC)),
    ("2026-11-21T11:00:00+01:00", dt.datetime(2026, 11, 21, 10, tzinfo=dt.UTC)),
    ("2026-06-01T12:30:00.123456+02:00", dt.datetime(2026, 6, 1, 10, 30, 0, 123456, tzinfo=dt.UTC)),
])
def test_aware_submitted_at(value: str, expected: dt.datetime) -> None:
    parsed = PortalApplication.model_validate(envelope(submitted_at=value)).submitted_at
    assert parsed == expected
    assert parsed.utcoffset() is not None


@pytest.mark.parametrize("value", ["2026-11-21T10:00:00", "2026-11-21 10:00:00", "2026-11-21", "gestern",
                                   "2026-02-30T10:00:00Z", ""])
def test_naive_or_invalid_submitted_at_is_refused(value: str) -> None:
    assert [loc for loc, _ in errors_of(envelope(submitted_at=value))] == [("submitted_at",)]


def test_naive_submitted_at_message_names_the_time_zone() -> None:
    with pytest.raises(InvalidPayload) as caught:
        parse_envelope(json.dumps(envelope(submitted_at="2026-11-21T10:00:00")).encode())
    assert caught.value.detail == "invalid application envelope at submitted_at: Value error, " \
                                  "submitted_at needs a time zone"


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "1999-12-31T23:59:59Z"])
def test_implausibly_old_submitted_at_is_refused(value: str) -> None:
    with pytest.raises(InvalidPayload) as caught:
        parse_envelope(json.dumps(envelope(submitted_at=value)).encode())
    assert caught.value.status == 422
    assert caught.value.detail == "submitted_at lies implausibly far in the past"
    assert caught.value.extensions == {"field": "/submitted_at", "earliest": "2000-01-01T00:00:00+00:00"}


def test_the_earliest_submitted_at_is_configurable() -> None:
    raw = json.dumps(envelope(submitted_at="2019-05-01T10:00:00+02:00")).encode()
    assert parse_envelope(raw).submitted_at.year == 2019
    stricter = PortalOptions(earliest_submitted_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    with pytest.raises(InvalidPayload, match="implausibly far in the past"):
        parse_envelope(raw, stricter)
    with pytest.raises(ValidationError):
        PortalOptions.model_validate({"earliest_submitted_at": "2020-01-01T00:00:00"})  # needs a time zone


# -- unknown members ------------------------------------------------------------------------------

def test_unknown_members_are_refused_everywhere() -> None:
    assert errors_of(envelope(citizen="Erika")) == [(("citizen",), "extra_forbidden")]
    assert errors_of(envelope(attachments=[attachment(path="/tmp/x")])) == \
        [(("attachments", 0, "path"), "extra_forbidden")]
    account = {"provider": "bundid", "pseudonym": "p", "trust_level": "hoch", "name": "Erika"}
    assert errors_of(envelope(account=account)) == [(("account", "name"), "extra_forbidden")]
    assert errors_of(envelope(reply_channel={"kind": "email", "address": "a@b.de", "cc": "c@d.de"})) == \
        [(("reply_channel", "cc"), "extra_forbidden")]


def test_form_data_itself_is_free_form() -> None:
    data = {"anything": {"nested": [1, "two", None, True]}, "x": 1.5}
    assert PortalApplication.model_validate(envelope(data=data)).data == data


@pytest.mark.parametrize("missing", ["tenant", "service", "form", "submitted_at", "data"])
def test_required_members(missing: str) -> None:
    data = envelope()
    del data[missing]
    assert errors_of(data) == [((missing,), "missing")]


# -- ids ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("member,good,bad", [
    ("tenant", ["150905350535", "000000000000"], ["15090535053", "1509053505351", "15090535053x", "",
                                                  "15090535053\n"]),
    ("service", ["99108008001000", "99000000000000"], ["98108008001000", "9910800800100", "991080080010000",
                                                       "99-108008001000"]),
    ("form", ["test-hund", "a", "0abc", "x" * 64], ["Test-Hund", "-hund", "hund_test", "x" * 65, "", "hund form"]),
    ("request_id", ["abc", "portal:2026.11-21_x", "r" * 128], ["", "r" * 129, "has space", "a/b", "ä"]),
])
def test_id_patterns(member: str, good: list[str], bad: list[str]) -> None:
    for value in good:
        assert getattr(PortalApplication.model_validate(envelope(**{member: value})), member) == value
    for value in bad:
        assert [loc for loc, _ in errors_of(envelope(**{member: value}))] == [(member,)], value


@pytest.mark.parametrize("member,value", [
    ("tenant", "１５０９０５３５０５３５"),          # FULLWIDTH DIGITs
    ("tenant", "١٥٠٩٠٥٣٥٠٥٣٥"),                    # ARABIC-INDIC DIGITs
    ("service", "99١٠٨٠٠٨٠٠١٠٠٠"),
], ids=["tenant-fullwidth", "tenant-arabic-indic", "service-arabic-indic"])
def test_ars_and_leika_are_ascii_digits(member: str, value: str) -> None:
    """An ARS and a LeiKa key consist of the digits 0-9; ``\\d`` in a pydantic pattern also
    matches every other Unicode decimal digit."""
    assert [loc for loc, _ in errors_of(envelope(**{member: value}))] == [(member,)]


@pytest.mark.parametrize("member,value", [("tenant", 150905350535), ("service", 99108008001000),
                                          ("data", "x"), ("data", []), ("attachments", {}), ("form", None)])
def test_wrong_types_are_not_coerced(member: str, value: Any) -> None:
    assert [loc[0] for loc, _ in errors_of(envelope(**{member: value}))] == [member]


@pytest.mark.parametrize("att_id,ok", [("nachweis", True), ("a.b-c_1", True), ("x" * 64, True), ("x" * 65, False),
                                       ("", False), ("a b", False), ("a/b", False), ("../x", False)])
def test_attachment_ids(att_id: str, ok: bool) -> None:
    if ok:
        assert AttachmentRef.model_validate(attachment(id=att_id)).id == att_id
    else:
        with pytest.raises(ValidationError):
            AttachmentRef.model_validate(attachment(id=att_id))


@pytest.mark.parametrize("digest", ["AB" * 64, "ab" * 63, "ab" * 65, "g" * 128, ""])
def test_attachment_sha512_must_be_lowercase_hex_of_full_length(digest: str) -> None:
    with pytest.raises(ValidationError):
        AttachmentRef.model_validate(attachment(sha512=digest))


def test_attachment_purpose_and_description() -> None:
    assert AttachmentRef.model_validate(attachment()).purpose == "attachment"
    assert AttachmentRef.model_validate(attachment(description="d" * 1000)).description == "d" * 1000
    for bad in ({"purpose": "evidence"}, {"description": "d" * 1001}):
        with pytest.raises(ValidationError):
            AttachmentRef.model_validate(attachment(**bad))


def test_attachment_ids_are_unique() -> None:
    refs = [attachment(id="a1", filename="eins.pdf"), attachment(id="a1", filename="zwei.pdf", sha512="cd" * 64)]
    with pytest.raises(ValidationError) as caught:
        PortalApplication.model_validate(envelope(attachments=refs))
    assert caught.value.errors()[0]["loc"][0] == "attachments"


def test_at_most_fifty_attachments() -> None:
    refs = [attachment(id=f"a{i}", sha512=f"{i:0128x}") for i in range(51)]
    assert len(PortalApplication.model_validate(envelope(attachments=refs[:50])).attachments) == 50
    assert errors_of(envelope(attachments=refs)) == [(("attachments",), "too_long")]


# -- parse_envelope: one clear error, no echo of the input ---------------------------------------

def test_parse_envelope_names_the_location_and_counts_the_errors() -> None:
    raw = json.dumps(envelope(tenant="Erika Mustermann", form="Hund Anmeldung", extra="geheim")).encode()
    with pytest.raises(InvalidPayload) as caught:
        parse_envelope(raw)
    error = caught.value
    assert error.detail.startswith("invalid application envelope at tenant: String should match pattern")
    assert error.extensions == {"errors": 3}
    problem = json.dumps(error.to_problem())
    for value in ("Erika", "Mustermann", "Hund Anmeldung", "geheim"):
        assert value not in problem


@pytest.mark.parametrize("raw", [b"[]", b"null", b'"x"', b"{}"])
def test_parse_envelope_refuses_non_envelopes(raw: bytes) -> None:
    with pytest.raises(InvalidPayload):
        parse_envelope(raw)


def test_the_reply_preference_may_carry_the_applicants_openpgp_key_for_email_only() -> None:
    from adapters.portal.envelope import PortalReplyChannel

    key = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQGNBGsU...\n-----END PGP PUBLIC KEY BLOCK-----\n"
    choice = PortalReplyChannel(kind="email", address="erika@example.org", pgp_public_key=key)
    assert choice.details() == {"kind": "email", "address": "erika@example.org", "pgpPublicKey": key}
    assert choice.for_case().model_dump() == {"kind": "email", "address": "erika@example.org"}
    with pytest.raises(ValidationError):
        PortalReplyChannel(kind="postbox", address="x", pgp_public_key=key)
    with pytest.raises(ValidationError):
        PortalReplyChannel(kind="email", address="erika@example.org", pgp_public_key="not armored")

"""XtaChannel.verify on stored getMessage responses, and idempotent acknowledge/reject."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
import tracemalloc
from pathlib import Path

import pytest
from lxml import etree

from adapters.xta import samples
from adapters.xta.client import Content
from adapters.xta.options import DEFAULT_FORMATS
from adapters.xta.sandbox.store import StoredContent, StoredMessage
from gateway.errors import InvalidPayload, PermanentError, Problem, UnsupportedFormat, VerificationFailed
from gateway.mapping import MappingRegistry
from tests.unit.xta.conftest import REPO, Rig, RigFactory

WOHNGELD_PAYLOAD = samples.WOHNGELD.fixtures()[0].read_bytes()


@pytest.mark.parametrize("kind", [samples.WOHNGELD, samples.GEWERBE], ids=["wohngeld", "gewerbe"])
@pytest.mark.parametrize("mtom_responses", [True, False], ids=["mtom", "inline-base64"])
def test_verify_returns_the_payload_and_attachments(make_rig: RigFactory, kind: samples.MessageKind,
                                                   mtom_responses: bool) -> None:
    rig = make_rig(mtom_responses=mtom_responses)
    pdf = b"%PDF-1.7\r\n" + os.urandom(200_000)
    payload = kind.fixtures()[0].read_bytes()
    message_id = rig.post(kind, payload, (Content(pdf, "application/pdf", "../../etc/Mietvertrag.pdf", "Vertrag"),))
    submission = rig.channel.verify(rig.fetched(message_id))
    assert submission.data == payload
    assert submission.source_format == "xta:" + kind.code
    assert submission.tenant_ars == "150905350535"
    expected_leika = "99107006001000" if kind is samples.WOHNGELD else "99050012104000"
    assert submission.service_leika == expected_leika
    [attachment] = submission.attachments
    if mtom_responses:  # streamed into the blob store as a MIME part: handed on as that blob
        assert attachment.stored is not None and attachment.content is None
        assert attachment.stored.sha512 == hashlib.sha512(pdf).hexdigest()
        assert rig.blobs.get(attachment.stored.key) == pdf
    else:  # inline base64 in the envelope: decoded in memory (the envelope is capped)
        assert attachment.content == pdf
    assert (attachment.filename, attachment.media_type, attachment.description) == (
        "Mietvertrag.pdf", "application/pdf", "Vertrag")
    assert submission.references["messageType"] == kind.code
    assert submission.references["service"] == kind.service
    assert submission.submitted_at is not None


def test_source_formats_match_the_mappings() -> None:
    registry = MappingRegistry.load(REPO / "mappings")
    formats = {registry.get(m).source_format for m in ("xoev.wohngeld-mietzuschuss", "xoev.gewerbe-anmelden")}
    assert formats == {"xta:" + code for code in DEFAULT_FORMATS}


def _mutate(payload: bytes, path: str, text: str) -> bytes:
    root = etree.fromstring(payload)
    root.xpath(path, namespaces={"w": samples.WOHNGELD.payload_schema})[0].text = text
    return bytes(etree.tostring(root))


def test_schema_violation_names_the_location_without_the_value(rig: Rig) -> None:
    bad = _mutate(WOHNGELD_PAYLOAD, "/*/w:G05000001/w:F05000002", "Geheimnis-1989")
    message_id = rig.post(samples.WOHNGELD, bad)
    with pytest.raises(InvalidPayload) as caught:
        rig.channel.verify(rig.fetched(message_id))
    location = "/fim.S05000227.05000227001005/G05000001/F05000002"
    assert f"at {location} (line " in caught.value.detail
    assert caught.value.extensions["location"] == location
    assert isinstance(caught.value.extensions["line"], int)
    assert "Geheimnis" not in str(caught.value.to_problem())


def test_unknown_message_type_is_unsupported(rig: Rig) -> None:
    other = samples.MessageKind("xinneres.meldung.0100", "urn:other", "urn:svc", "X", "none")
    with pytest.raises(UnsupportedFormat, match=r"xinneres\.meldung\.0100"):
        rig.channel.verify(rig.fetched(rig.post(other, b"<x xmlns='urn:other'/>")))


def test_payload_schema_must_match_the_message_type(rig: Rig) -> None:
    kind = dataclasses.replace(samples.WOHNGELD, payload_schema="urn:xoev-de:xfall:standard:fim-s05000227_1.4")
    with pytest.raises(UnsupportedFormat, match="payloadSchema"):
        rig.channel.verify(rig.fetched(rig.post(kind, WOHNGELD_PAYLOAD)))


def test_payload_root_must_be_the_message_type_element(rig: Rig) -> None:
    payload = samples.GEWERBE.fixtures()[0].read_bytes()
    kind = dataclasses.replace(samples.GEWERBE, code=samples.WOHNGELD.code,
                               payload_schema=samples.WOHNGELD.payload_schema)
    with pytest.raises(InvalidPayload, match="root element"):
        rig.channel.verify(rig.fetched(rig.post(kind, payload)))


def test_hostile_payload_is_refused_without_loading_anything(rig: Rig, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("SECRET-CONTENT")
    xxe = f'<!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]><r>&x;</r>'.encode()
    with pytest.raises(InvalidPayload, match="DOCTYPE") as caught:
        rig.channel.verify(rig.fetched(rig.post(samples.WOHNGELD, xxe)))
    assert "SECRET" not in str(caught.value.to_problem())


def test_message_for_another_reader_or_id_is_refused(rig: Rig) -> None:
    message = rig.fetched(rig.post())
    with pytest.raises(VerificationFailed, match="MessageID"):
        rig.channel.verify(dataclasses.replace(message, source_id="urn:de:xta:messageid:x:other"))
    rig.channel.options = rig.channel.options.model_copy(update={"party": "wgb:150855500000"})
    with pytest.raises(VerificationFailed, match="another reader"):
        rig.channel.verify(message)


def test_declared_size_must_match(rig: Rig) -> None:
    message = rig.fetched(rig.post())
    tampered = rig.envelope(message).replace(f'size="{len(WOHNGELD_PAYLOAD)}"'.encode(), b'size="1"', 1)
    with pytest.raises(VerificationFailed, match="declared size"):
        rig.channel.verify(rig.with_envelope(message, tampered))


def test_non_xml_message_and_broken_responses_are_invalid(rig: Rig) -> None:
    message = rig.fetched(rig.post())
    as_pdf = rig.envelope(message).replace(b'contentType="application/xml"', b'contentType="application/pdf"', 1)
    with pytest.raises(InvalidPayload, match="not XML"):
        rig.channel.verify(rig.with_envelope(message, as_pdf))
    with pytest.raises(InvalidPayload, match="manifest"):
        rig.channel.verify(dataclasses.replace(message, payload=message.payload[: len(message.payload) // 2]))
    envelope = rig.envelope(message)
    with pytest.raises(InvalidPayload):
        rig.channel.verify(rig.with_envelope(message, envelope[: len(envelope) // 2]))
    raw = rig.raw(message.source_id)
    with pytest.raises(InvalidPayload):
        rig.channel.verify(dataclasses.replace(raw, payload=raw.payload[: len(raw.payload) // 2]))
    with pytest.raises(InvalidPayload, match="SOAP"):
        rig.channel.verify(dataclasses.replace(message, payload=b"<html/>", media_type="text/html"))


def test_response_in_a_wrong_namespace_is_invalid(rig: Rig) -> None:
    message = rig.fetched(rig.post())
    for old, new in ((b"http://xoev.de/transport/xta/211", b"http://xoev.de/transport/xta/2"),
                     (b"http://www.osci.eu/ws/2014/10/transport", b"http://www.osci.eu/ws/2008/05/transport#"),
                     (b"http://www.w3.org/2003/05/soap-envelope", b"http://schemas.xmlsoap.org/soap/envelope/")):
        with pytest.raises(InvalidPayload):
            rig.channel.verify(rig.with_envelope(message, rig.envelope(message).replace(old, new)))


def test_acknowledge_closes_once_and_is_idempotent(rig: Rig) -> None:
    message = rig.fetched(rig.post())
    rig.channel.acknowledge(message, case=None)  # type: ignore[arg-type]
    rig.channel.acknowledge(message, case=None)  # type: ignore[arg-type]  # after a crash: closed already
    assert rig.state.messages[message.source_id].closed
    assert rig.state.calls[f"closed:{message.source_id}"] == 1


@pytest.mark.parametrize("close", [True, False])
def test_reject_closes_unless_configured_to_leave_open(make_rig: RigFactory, close: bool) -> None:
    rig = make_rig(quarantine_then_close=close)
    message = rig.fetched(rig.post())
    rig.channel.reject(message, Problem.of(PermanentError("bad")))
    rig.channel.reject(message, Problem.of(PermanentError("bad")))
    assert rig.state.messages[message.source_id].closed is close


def test_transient_close_failure_propagates_for_retry(rig: Rig) -> None:
    message = rig.fetched(rig.post())
    rig.state.fail_next("close", "9030")
    with pytest.raises(Exception, match="9030"):
        rig.channel.acknowledge(message, case=None)  # type: ignore[arg-type]
    assert not rig.state.messages[message.source_id].closed


def test_sender_chosen_attachment_labels_are_bounded(rig: Rig) -> None:
    long_text = "Nachweis\r\nSeite 1\t" + "x" * 2000  # lxml writes them as &#13; &#10; &#9;
    message = rig.fetched(rig.post(attachments=(
        Content(b"%PDF-1", "Application/PDF; name=a.pdf", "a.pdf", long_text),
        Content(b"%PDF-2", "kein Medientyp", "b.pdf"),
        Content(b"%PDF-3", "application/pdf", "c.pdf"))))
    # ids as a sender may set them: one that looks like our fallback, one that is no plain token
    head, *rest = rig.envelope(message).split(b"<xta:Attachment ")
    declared = (b"attachment-2", b"bad id\xc3\xa9", b"attachment-2")
    raw = head + b"".join(b'<xta:Attachment id="' + i + b'" ' + tail for i, tail in zip(declared, rest, strict=True))
    first, second, third = rig.channel.verify(rig.with_envelope(message, raw)).attachments
    assert [a.id for a in (first, second, third)] == ["attachment-2", "attachment-2-2", "attachment-3"]
    assert [a.media_type for a in (first, second, third)] == [
        "application/pdf", "application/octet-stream", "application/pdf"]
    assert first.description is not None and len(first.description) == 500
    assert first.description.startswith("Nachweis Seite 1 xxx")


def test_attachment_count_and_payload_size_are_capped(make_rig: RigFactory) -> None:
    rig = make_rig(max_attachments=1, payload_limits={"max_bytes": len(WOHNGELD_PAYLOAD) - 1})
    two = rig.fetched(rig.post(attachments=(Content(b"1", "application/pdf"), Content(b"2", "application/pdf"))))
    with pytest.raises(InvalidPayload, match="2 attachments; at most 1"):
        rig.channel.verify(two)
    with pytest.raises(InvalidPayload, match="too large"):
        rig.channel.verify(rig.fetched(rig.post()))


def test_the_payload_parse_is_handed_to_the_mapping_only_when_as_strict_as_its_own(make_rig: RigFactory) -> None:
    registry = MappingRegistry.load(REPO / "mappings")
    mapping = registry.get("xoev.wohngeld-mietzuschuss")
    rig = make_rig()
    submission = rig.channel.verify(rig.fetched(rig.post()))
    assert isinstance(submission.parsed_data, etree._Element)
    assert etree.tostring(submission.parsed_data) == etree.tostring(etree.fromstring(submission.data))
    assert mapping.apply(submission.data, submission.parsed_data) == mapping.apply(submission.data)
    for looser in ({"max_bytes": 21 * 1024 * 1024}, {"max_depth": 255}, {"max_elements": 10**6}):
        loose = make_rig(payload_limits=looser)
        assert loose.channel.verify(loose.fetched(loose.post())).parsed_data is None  # the mapping parses itself


def test_payload_limits_are_the_configured_ones(make_rig: RigFactory) -> None:
    rig = make_rig(payload_limits={"max_elements": 10})
    assert rig.channel.options.payload_limits.max_bytes == 20 * 1024 * 1024  # the other defaults stay
    with pytest.raises(InvalidPayload, match="more than 10 elements"):
        rig.channel.verify(rig.fetched(rig.post()))


def test_a_row_stored_before_the_manifest_still_verifies(rig: Rig) -> None:
    """Inbox rows written by earlier versions hold the whole getMessage response as one blob."""
    pdf = b"%PDF-1.7 " + os.urandom(5000)
    raw = rig.raw(rig.post(attachments=(Content(pdf, "application/pdf", "a.pdf"),)))
    assert raw.media_type.startswith("multipart/related")
    submission = rig.channel.verify(raw)
    assert submission.data == WOHNGELD_PAYLOAD and [a.content for a in submission.attachments] == [pdf]
    with pytest.raises(InvalidPayload, match="larger than"):
        rig.channel.verify(dataclasses.replace(raw, payload=raw.payload + b" " * rig.channel.options.max_message_bytes))


def test_a_stored_message_beyond_the_size_limit_is_refused_without_reading_it(make_rig: RigFactory) -> None:
    rig = make_rig(max_message_bytes=50_000)
    message = rig.fetched(rig.post(attachments=(Content(os.urandom(60_000), "application/pdf", "a.pdf"),)))
    with pytest.raises(InvalidPayload, match="larger than 50000 bytes"):
        rig.channel.verify(message)


def test_a_large_attachment_streams_from_the_server_into_the_blob_store(rig: Rig, tmp_path: Path) -> None:
    """32 MiB served from a file (the sandbox streams it): fetched part by part into the blob store,
    verified without reading it; Python allocations of both sides stay at a few MB."""
    plan = tmp_path / "bauplan.pdf"
    with plan.open("wb") as handle:
        for _ in range(32):
            handle.write(os.urandom(1024 * 1024))
    message_id = rig.state.new_message_id()
    rig.state.store(StoredMessage(
        samples.metadata(samples.WOHNGELD, message_id, len(WOHNGELD_PAYLOAD) + plan.stat().st_size),
        StoredContent("application/xml", WOHNGELD_PAYLOAD, "antrag.xml", encoding="UTF-8"),
        [StoredContent("application/pdf", plan, "bauplan.pdf")], dt.datetime.now(dt.UTC)))
    tracemalloc.start()
    try:
        message = rig.fetched(message_id)
        submission = rig.channel.verify(message)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    [attachment] = submission.attachments
    assert attachment.stored is not None and attachment.stored.size == 32 * 1024 * 1024
    assert attachment.stored.sha512 == hashlib.sha512(plan.read_bytes()).hexdigest()
    assert attachment.stored.key in message.parts  # the MIME part's blob is the attachment's
    assert peak < 8 * 1024 * 1024, peak

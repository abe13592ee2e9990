"""Choosing a reply's channel, the order of delivery states, a reply request's rules, the
catalog's reply channels and their check."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from gateway.adapter_registry import Registry
from gateway.case.model import Case, ReplyChannel
from gateway.catalog import Catalog, ReplyPolicy, TenantCatalog
from gateway.checks import check_reply_channels
from gateway.ports import BlobStore, DeliveryReport, OutgoingReply, ReplyChannelAdapter
from gateway.replies.request import ReplyRequest, fingerprint
from gateway.replies.routing import first_possible, plan, preferred_channel, recipient_of
from gateway.replies.states import advances
from tests.support.cases import a_case


class Channel:
    def __init__(self, name: str, recipient: str | Exception | None) -> None:
        self.name, self._recipient = name, recipient

    def recipient(self, case: Case) -> str | None:
        if isinstance(self._recipient, Exception):
            raise self._recipient
        return self._recipient

    def deliver(self, reply: OutgoingReply, blobs: BlobStore) -> DeliveryReport:
        raise AssertionError("not used")

    def follow(self, reply: OutgoingReply, last: DeliveryReport) -> DeliveryReport:
        return last


def registry(**channels: str | Exception | None) -> Registry[ReplyChannelAdapter]:
    found: Registry[ReplyChannelAdapter] = Registry("reply channel")
    for name, recipient in channels.items():
        found.register(name, Channel(name, recipient))
    return found


def test_the_applicants_choice_goes_first_when_the_catalog_lists_it() -> None:
    allowed = ["postbox", "xta", "email", "hybridmail"]
    assert plan(allowed, "email") == ["email", "postbox", "xta", "hybridmail"]
    assert plan(allowed, "demail") == allowed  # not offered for this kind: the catalog's order
    assert plan(allowed, None) == allowed
    case = a_case(reply_channel=ReplyChannel(kind="email", address="a@example.org"))
    assert preferred_channel(case) == "email"
    assert preferred_channel(a_case(reply_channel=ReplyChannel(kind="post", address="-"))) is None
    assert preferred_channel(a_case()) is None


def test_the_first_channel_that_can_serve_the_case_is_chosen_and_the_others_say_why_not() -> None:
    channels = registry(postbox=None, xta=RuntimeError("broken"), email="a@example.org", hybridmail="letter")
    route, passed_over = first_possible(["fitconnect", "postbox", "xta", "email", "hybridmail"], a_case(), channels)
    assert route is not None and (route.channel, route.recipient) == ("email", "a@example.org")
    assert passed_over == [{"channel": "fitconnect", "reason": "not configured"},
                           {"channel": "postbox", "reason": "cannot serve this case"},
                           {"channel": "xta", "reason": "error: RuntimeError"}]
    route, _ = first_possible(["email", "hybridmail"], a_case(), channels, skip={"email"})
    assert route is not None and route.channel == "hybridmail"
    assert first_possible([], a_case(), channels) == (None, [])
    assert recipient_of(registry(email=""), "email", a_case()) == (None, "named an unusable recipient")


@pytest.mark.parametrize("current,new,news", [
    ("queued", "sent", True), ("sent", "accepted", True), ("accepted", "sent", False), ("sent", "sent", False),
    ("delivered", "read", True), ("read", "failed", False), ("failed", "sent", False), ("sent", "failed", True),
    ("queued", "dead", True), ("dead", "queued", True), ("dead", "sent", True), ("queued", "delivered", True),
])
def test_delivery_states_only_move_forward(current: str, new: str, news: bool) -> None:
    assert advances(current, new) is news


def reply(**values: Any) -> ReplyRequest:
    return ReplyRequest.model_validate({"kind": "decision", "title": "Bescheid", **values})


@pytest.mark.parametrize("values", [
    {"kind": "verdict"}, {"title": ""}, {"title": "zwei\nZeilen"}, {"title": "x" * 501},
    {"title": "Bescheid \u202e fdp.exe"}, {"text": "nul \x00"}, {"status": "decided"},
    {"documents": [{"id": "a", "filename": "a.exe"}]}, {"documents": [{"id": "a b", "filename": "a.pdf"}]},
    {"documents": [{"id": "a", "filename": "a.pdf"}, {"id": "a", "filename": "b.pdf"}]},
    {"documents": [{"id": "a", "filename": "A.pdf"}, {"id": "b", "filename": "a.pdf"}]},
    {"documents": [{"id": "a", "filename": "../a.pdf"}]}, {"channel": "E-Mail"}, {"unknown": 1},
])
def test_a_reply_request_is_refused_with_its_problem(values: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        reply(**values)


def test_a_reply_request_keeps_lines_and_tabs_in_the_text_and_normalises_to_nfc() -> None:
    request = reply(text="Zeile 1\r\n\tZeile 2 mit Umlaut Mu\u0308ller", kind="status", status="decided")
    assert request.text.endswith("Müller") and "\t" in request.text


def test_the_fingerprint_covers_the_case_the_fields_and_the_documents() -> None:
    request = reply(documents=[{"id": "a", "filename": "a.pdf"}])
    base = fingerprint("case-1", request, {"a": "1" * 128})
    assert base == fingerprint("case-1", request, {"a": "1" * 128})
    assert base != fingerprint("case-2", request, {"a": "1" * 128})
    assert base != fingerprint("case-1", request, {"a": "2" * 128})
    assert base != fingerprint("case-1", reply(title="Anders", documents=[{"id": "a", "filename": "a.pdf"}]),
                               {"a": "1" * 128})


def test_the_catalog_gives_a_service_its_own_reply_channels_or_its_municipalitys() -> None:
    entry = TenantCatalog.model_validate({
        "tenant": {"ars": "150905350535", "name": "T", "reference_prefix": "TGH"},
        "replies": {"decision": ["postbox", "email"], "status": ["postbox"]},
        "services": [
            {"leika": "99108008001000", "name": "Hund", "mappings": ["m"], "channels": ["portal"], "queue": "q"},
            {"leika": "99050012104000", "name": "Gewerbe", "mappings": ["m"], "channels": ["portal"], "queue": "q",
             "replies": {"decision": ["xta"]}}]})
    catalog = Catalog({"150905350535": entry})
    assert catalog.reply_policy("150905350535", "99108008001000").channels_for("decision") == ["postbox", "email"]
    assert catalog.reply_policy("150905350535", "99050012104000").channels_for("decision") == ["xta"]
    assert catalog.reply_policy("150905350535", "99050012104000").channels_for("status") == []
    assert check_reply_channels(catalog, {"postbox", "email"}) == [
        "tenant 150905350535 service 99050012104000: reply channel 'xta' for decision replies is registered by no "
        "installed adapter (known: email, postbox)"]
    assert check_reply_channels(catalog, {"postbox", "email", "xta"}) == []


@pytest.mark.parametrize("policy", [{"decision": ["email", "email"]}, {"decision": ["E-Mail"]}, {"verdict": []}])
def test_a_bad_reply_policy_is_refused(policy: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ReplyPolicy.model_validate(policy)


def test_catalog_check_names_a_misspelt_reply_channel_and_a_bad_policy_with_its_file(tmp_path: Any) -> None:
    import shutil

    from gateway.checks import check_catalog
    from gateway.config import Settings
    from tests.conftest import REPO

    shutil.copytree(REPO / "mappings", tmp_path / "mappings")
    shutil.copytree(REPO / "schemas", tmp_path / "schemas")
    catalog = tmp_path / "mappings" / "catalog" / "tangerhuette.yaml"
    text = catalog.read_text(encoding="utf-8")
    settings = Settings(mappings_dir=tmp_path / "mappings")
    catalog.write_text(text.replace("status: [postbox, fitconnect]", "status: [postbox, fitconect]"),
                       encoding="utf-8")
    assert [p for p in check_catalog(settings) if "fitconect" in p] == [
        "tenant 150905350535: reply channel 'fitconect' for status replies is registered by no installed adapter "
        "(known: email, fitconnect, hybridmail, postbox, xta)"]
    catalog.write_text(text.replace("status: [postbox, fitconnect]", "status: [postbox, postbox]"), encoding="utf-8")
    [problem] = check_catalog(settings)
    assert "tangerhuette.yaml" in problem and "listed twice" in problem

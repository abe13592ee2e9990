"""Replies on real stores (both profiles), with stand-in reply channels registered under the
names the test catalog uses (tests/testdata/mappings/catalog/testhausen.yaml)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select

from gateway.bootstrap import Gateway
from gateway.case.model import Case
from gateway.config import Settings
from gateway.errors import PermanentError, UpstreamUnavailable
from gateway.ports import BlobStore, DeliveryReport, OutgoingReply
from gateway.replies.request import ReplyRequest
from gateway.store.tables import events
from tests.integration.conftest import portal_message

PDF = b"%PDF-1.4\n% a decision (TEST)\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def pdf(label: str = "") -> bytes:
    return PDF.replace(b"(TEST)", f"(TEST {label})".encode())


@dataclass
class FakeChannel:
    """A reply channel stand-in: remembers every delivery (idempotent per delivery id, as the
    port demands), can refuse, be down, and report follow-up states."""

    name: str
    recipient_of: Callable[[Case], str | None] = lambda case: "recipient@example.org"
    mode: str = "ok"  # ok | refuse | down
    calls: list[str] = field(default_factory=list)  # delivery ids, every call
    delivered: dict[str, OutgoingReply] = field(default_factory=dict)  # delivery id -> reply, once each
    follow_reports: list[DeliveryReport] = field(default_factory=list)
    state: str = "sent"

    def recipient(self, case: Case) -> str | None:
        return self.recipient_of(case)

    def deliver(self, reply: OutgoingReply, blobs: BlobStore) -> DeliveryReport:
        self.calls.append(reply.delivery_id)
        if self.mode == "refuse":
            raise PermanentError("the channel refuses this reply", channel_code="X42")
        if self.mode == "down":
            raise UpstreamUnavailable("the channel is down")
        for document in reply.documents:
            assert blobs.get(document.storage_key).startswith(b"%PDF-")
        self.delivered.setdefault(reply.delivery_id, reply)
        return DeliveryReport(state=self.state, remote_id=f"{self.name}-{reply.delivery_id[:8]}",  # type: ignore
                              detail="handed over")

    def follow(self, reply: OutgoingReply, last: DeliveryReport) -> DeliveryReport:
        return self.follow_reports.pop(0) if self.follow_reports else last


@dataclass
class Channels:
    postbox: FakeChannel
    email: FakeChannel
    hybridmail: FakeChannel
    xta: FakeChannel


def install_fakes(gw: Gateway) -> Channels:
    channels = Channels(
        postbox=FakeChannel("postbox", lambda case: case.applicant.account.postbox_reference
                            if case.applicant.account else None),
        email=FakeChannel("email", lambda case: case.reply_channel.address
                          if case.reply_channel and case.reply_channel.kind == "email" else None),
        hybridmail=FakeChannel("hybridmail", lambda case: "Erika Mustermann, Heidestraße 17, 39517 Tangerhütte"),
        xta=FakeChannel("xta", lambda case: None))
    for channel in (channels.postbox, channels.email, channels.hybridmail, channels.xta):
        gw.adapters.reply_channels.register(channel.name, channel)
    return channels


@pytest.fixture
def rgw(profile_settings: Settings) -> Iterator[Gateway]:
    settings = profile_settings.model_copy(update={"delivery_max_attempts": 3})
    gateway = Gateway.create(settings)
    yield gateway
    gateway.close()


@pytest.fixture
def fakes(rgw: Gateway) -> Channels:
    return install_fakes(rgw)


def new_case(gw: Gateway, **envelope: Any) -> Case:
    outcome = gw.pipeline.intake(portal_message(**envelope), None)
    assert outcome.case is not None, outcome
    return outcome.case


def email_case(gw: Gateway, address: str = "erika@example.org") -> Case:
    return new_case(gw, reply_channel={"kind": "email", "address": address})


def decision(**overrides: Any) -> ReplyRequest:
    values: dict[str, Any] = {"kind": "decision", "title": "Bescheid über die Hundesteuer",
                              "text": "Sehr geehrte Frau Mustermann,\nanbei Ihr Bescheid."}
    values.update(overrides)
    return ReplyRequest.model_validate(values)


def event_types(gw: Gateway, case_id: str) -> list[str]:
    with gw.db.reading() as conn:
        rows = conn.execute(select(events.c.type).where(events.c.case_id == case_id).order_by(events.c.seq)).all()
    return [r[0] for r in rows]


def sha512(content: bytes) -> str:
    return hashlib.sha512(content).hexdigest()

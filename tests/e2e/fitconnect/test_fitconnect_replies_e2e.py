"""Answers to applications that came in through FIT-Connect, over HTTP end to end: EfA sender
-> sandbox Zustelldienst -> gateway case -> the reply channel the gateway registered -> the
sandbox (the citizen's postbox, the online service)."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.fitconnect import testing
from gateway.case.model import Case
from gateway.ports import DeliveryReport, OutgoingReply, ReplyChannelAdapter
from tests.e2e.fitconnect.conftest import Stack, make_stack


@pytest.fixture
def reply_stack(tmp_path: Path, mappings_root: Path) -> Iterator[Stack]:
    yield from make_stack(tmp_path, mappings_root, "v2", postbox=testing.postbox_options())


def wait_for(condition: Callable[[], Any], seconds: float = 20.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def case_from(stack: Stack, reply_channel: dict[str, Any]) -> Case:
    """An application with ``reply_channel`` in its metadata (2.1.0, API v2), taken in as a case."""
    app = dataclasses.replace(testing.application(api_version="v2", metadata_version="2.1.0"),
                              reply_channel=reply_channel)
    created = stack.efa.send(app)
    wait_for(lambda: stack.gateway.queries.inbox_entry("fitconnect", created.submission_id))
    stack.gateway.worker.run_until_idle()
    case = stack.gateway.queries.case_by_source("fitconnect", created.submission_id)
    assert case is not None
    return case  # type: ignore[no-any-return]


def followed(channel: ReplyChannelAdapter, reply: OutgoingReply, sent: DeliveryReport) -> DeliveryReport:
    report = sent
    deadline = time.monotonic() + 20
    while report.state == "sent" and time.monotonic() < deadline:
        time.sleep(0.05)
        report = channel.follow(reply, report)
    return report


def test_a_decision_reaches_the_postbox_the_application_named(reply_stack: Stack) -> None:
    mailbox = str(uuid.uuid4())
    case = case_from(reply_stack, {"idBundMailbox": {"mailboxUuid": mailbox}})
    assert case.reply_channel is not None and case.reply_channel.kind == "postbox"
    channel = reply_stack.gateway.adapters.reply_channels.get("postbox")
    assert channel.recipient(case) == mailbox
    pdf = testing.test_pdf(f"e2e {case.id}", 200_000)
    reply = testing.reply_for(case, reply_stack.gateway.blobs, mailbox, documents=[("bescheid.pdf", pdf)])
    sent = channel.deliver(reply, reply_stack.gateway.blobs)
    assert followed(channel, reply, sent).state == "accepted"
    page = httpx.get(f"{reply_stack.sandbox_url}/postbox/{mailbox}")
    assert page.status_code == 200 and reply.title in page.text and "bescheid.pdf" in page.text
    listed = httpx.get(f"{reply_stack.sandbox_url}/postbox/api/mailboxes/{mailbox}/messages").json()
    assert listed["count"] == 1 and listed["messages"][0]["reference"] == case.reference

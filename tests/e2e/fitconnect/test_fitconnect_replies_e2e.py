"""Answers to applications that came in through FIT-Connect, over HTTP end to end: EfA sender
-> sandbox Zustelldienst -> gateway case -> the reply channel the gateway registered -> the
sandbox (the citizen's postbox, the online service)."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.fitconnect import reply_channel, testing
from adapters.fitconnect.reply_channel import ReplyRefused
from adapters.fitconnect.sandbox.config import DEMO_DESTINATION
from gateway.case.model import Case
from gateway.ports import DeliveryReport, OutgoingReply, ReplyChannelAdapter
from tests.e2e.fitconnect.conftest import Stack, make_stack, wait_for


@pytest.fixture
def reply_stack(tmp_path: Path, mappings_root: Path) -> Iterator[Stack]:
    yield from make_stack(tmp_path, mappings_root, "v2", postbox=testing.postbox_options())


def case_from(stack: Stack, reply_channel: dict[str, Any]) -> Case:
    """An application with ``reply_channel`` in its metadata (2.1.0, API v2), taken in as a case."""
    app = dataclasses.replace(testing.application(api_version="v2", metadata_version="2.1.0"),
                              reply_channel=reply_channel)
    created = stack.efa.send(app)
    # the callback only announces the submission; the worker's poll takes it in
    stack.gateway.worker.run_until_idle()
    wait_for(lambda: stack.gateway.queries.inbox_entry("fitconnect", created.submission_id), seconds=20)
    case = stack.gateway.queries.case_by_source("fitconnect", created.submission_id)
    assert case is not None
    return case  # type: ignore[no-any-return]


def followed(channel: ReplyChannelAdapter, reply: OutgoingReply, sent: DeliveryReport,
             until_final: bool = False) -> DeliveryReport:
    """Until the delivery has left ``sent`` — or, ``until_final``, until the channel has nothing
    more to report: for a FIT-Connect answer ``delivered`` (the online service fetched it) comes
    first, then its accept (``delivered``, final) or reject (``failed``), some time later on a
    loaded machine."""
    report = sent
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (
            not (report.final or report.state == "failed") if until_final else report.state == "sent"):
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


def test_an_answer_goes_back_to_the_online_service_through_fitconnect(reply_stack: Stack) -> None:
    case = case_from(reply_stack, testing.fitconnect_reply_channel())
    channel = reply_stack.gateway.adapters.reply_channels.get("fitconnect")
    fit_case = case.source.references["caseId"]
    assert channel.recipient(case) == f"{DEMO_DESTINATION}/{fit_case}"
    pdf = testing.test_pdf(f"answer {case.id}", 50_000)
    reply = testing.reply_for(case, reply_stack.gateway.blobs, f"{DEMO_DESTINATION}/{fit_case}",
                              documents=[("bescheid.pdf", pdf)], delivery_id=f"{uuid.uuid4()}/fitconnect")
    sent = channel.deliver(reply, reply_stack.gateway.blobs)
    assert channel.deliver(reply, reply_stack.gateway.blobs) == sent  # the core's retry: reported, not sent again
    done = followed(channel, reply, sent, until_final=True)
    assert (done.state, done.final) == ("delivered", True)
    answers = reply_stack.sandbox_app.state.online_service.answers[fit_case]
    assert len(answers) == 1
    data = answers[0]["data"]
    assert (data["title"], data["kind"], data["caseReference"]) == (reply.title, "decision", case.reference)
    assert answers[0]["documents"] == [{"filename": "bescheid.pdf", "content": pdf}]
    assert [r.case_id for r in reply_stack.sandbox.replies.values()].count(fit_case) == 1


def test_an_answer_the_online_service_refuses_fails_with_its_problem(reply_stack: Stack,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    case = case_from(reply_stack, testing.fitconnect_reply_channel())
    real = reply_channel.metadata_for

    def wrong_data_hash(app: Any, *args: Any) -> dict[str, Any]:
        document = real(app, *args)
        document["contentStructure"]["data"]["hash"]["content"] = "0" * 128
        return document

    monkeypatch.setattr(reply_channel, "metadata_for", wrong_data_hash)
    channel = reply_stack.gateway.adapters.reply_channels.get("fitconnect")
    reply = testing.reply_for(case, reply_stack.gateway.blobs, str(channel.recipient(case)))
    report = followed(channel, reply, channel.deliver(reply, reply_stack.gateway.blobs), until_final=True)
    assert report.state == "failed"
    assert report.detail == "rejected by the online service: hash-mismatch (Prüfsumme stimmt nicht)"


def test_without_an_offer_this_gateway_can_answer_fitconnect_is_no_recipient(reply_stack: Stack) -> None:
    case = case_from(reply_stack, testing.fitconnect_reply_channel(["urn:xoev-de:bmk:standard:xbau_2.4"]))
    assert case.reply_channel is not None and case.reply_channel.kind == "fitconnect"
    channel = reply_stack.gateway.adapters.reply_channels.get("fitconnect")
    assert channel.recipient(case) is None
    before = len(reply_stack.sandbox.replies)
    with pytest.raises(ReplyRefused):
        channel.deliver(testing.reply_for(case, reply_stack.gateway.blobs, "x"), reply_stack.gateway.blobs)
    assert len(reply_stack.sandbox.replies) == before

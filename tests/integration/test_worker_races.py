"""Review: a worker whose attempt fails after another worker committed the same inbox entry
overwrites the committed state and causes a second case (duplicate) for one message."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import func, select

from gateway.bootstrap import Gateway
from gateway.errors import PermanentError, Problem, UpstreamUnavailable
from gateway.ports import CommittedCase, InboundMessage, VerifiedSubmission
from gateway.store.tables import cases
from tests.integration.conftest import portal_message


def _count(gw: Gateway, table: Any, *where: Any) -> int:
    with gw.db.reading() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


class SlowThenFailingChannel:
    """The first verify (worker A) is slow: meanwhile worker B (lease expired, job re-enqueued
    by the sweeper or taken over by XAUTOCLAIM) processes the same entry to the end. Then A's
    upstream call times out (transient) or A gets a permanent error."""

    name = "testpull"

    def __init__(self, gw: Gateway, error: Exception) -> None:
        self.gw = gw
        self.inner = gw.adapters.channels.get("portal")
        self.error = error
        self.calls = 0
        self.inbox_id = ""
        self.acks: list[str] = []
        self.rejects: list[str] = []

    def verify(self, message: InboundMessage) -> VerifiedSubmission:
        self.calls += 1
        if self.calls == 1:
            assert self.gw.pipeline.process(self.inbox_id).state == "committed"  # worker B
            raise self.error  # worker A's slow attempt ends in a failure
        return self.inner.verify(message)

    def acknowledge(self, message: InboundMessage, case: CommittedCase) -> None:
        self.acks.append(message.source_id)

    def reject(self, message: InboundMessage, problem: Problem) -> None:
        self.rejects.append(message.source_id)


def _submit(gw: Gateway, channel: SlowThenFailingChannel, source_id: str) -> str:
    gw.adapters.channels.register("testpull", channel)
    base = portal_message(source_id)
    message = InboundMessage(channel="testpull", source_id=source_id, payload=base.payload,
                             media_type=base.media_type, received_at=base.received_at, tenant_ars=base.tenant_ars)
    inbox_id = gw.pipeline.receive(message).inbox_id
    channel.inbox_id = inbox_id
    return inbox_id


def test_late_transient_failure_does_not_undo_a_commit(gw: Gateway) -> None:
    channel = SlowThenFailingChannel(gw, UpstreamUnavailable("upstream timed out"))
    inbox_id = _submit(gw, channel, "race-1")
    gw.pipeline.process(inbox_id)  # worker A
    state_after_a = gw.pipeline.outcome(inbox_id).state  # 'retry': A overwrote the commit
    errors: list[str] = []
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        try:
            gw.worker.run_once()
        except Exception as exc:  # what run_worker would log as "worker round failed"
            errors.append(type(exc).__name__)
        time.sleep(0.05)
    assert _count(gw, cases) == 1
    # the re-opened entry is processed again: write_case hits UNIQUE(cases.inbox_id), the
    # IntegrityError escapes process(), the job is never acked, the worker round aborts
    assert errors == [], errors
    assert state_after_a in ("committed", "acknowledged")  # B's acknowledgement may have gone out already
    assert gw.pipeline.outcome(inbox_id).state in ("committed", "acknowledged")


def test_late_permanent_failure_does_not_quarantine_and_reject_a_committed_case(gw: Gateway) -> None:
    channel = SlowThenFailingChannel(gw, PermanentError("late permanent failure"))
    inbox_id = _submit(gw, channel, "race-2")
    gw.pipeline.process(inbox_id)  # worker A
    gw.worker.run_until_idle()
    assert gw.pipeline.outcome(inbox_id).state in ("committed", "acknowledged")
    assert channel.rejects == [], "the source got an acknowledgement AND a rejection for one message"

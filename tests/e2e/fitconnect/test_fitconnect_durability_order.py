"""FIT-Connect: the fetched submission — its manifest (the raw original) and every encrypted part
it names (submission document, attachments, event log) — is durable before its inbox row
commits, the decrypted attachment before the case commits, and the accept-submission reaches the
Zustelldienst only after that commit."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.fitconnect import testing
from tests.e2e.durability_trace import DurabilityTrace
from tests.e2e.fitconnect.test_fitconnect_e2e import announced


def test_fitconnect_blob_durable_then_commit_then_accept(stack: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    trace = DurabilityTrace.install(stack.gateway, monkeypatch)
    decision = stack.sandbox.decision

    def decided(case_id: str, token: str) -> Any:
        submission = decision(case_id, token)  # the Zustelldienst has taken the destination's decision
        trace.acknowledged(f"{submission.status}:{submission.submission_id}")
        return submission

    monkeypatch.setattr(stack.sandbox, "decision", decided)
    created = stack.efa.send(testing.application("gewerbe-anmelden-gmbh"))
    announced(stack, created.submission_id)  # the callback: recorded for the worker's source
    stack.gateway.worker.run_until_idle()
    case = stack.gateway.queries.case_by_source("fitconnect", created.submission_id)
    assert case is not None and case.attachments
    entry = stack.gateway.queries.inbox_entry("fitconnect", created.submission_id)
    assert entry is not None and entry.part_keys is not None
    assert len(entry.part_keys) == 3  # submission document, one attachment, event log
    trace.received(entry.raw_key, entry.part_keys)
    trace.check([case.original.storage_key, *(a.storage_key for a in case.attachments)], str(case.id),
                f"accepted:{created.submission_id}")

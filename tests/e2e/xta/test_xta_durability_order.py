"""XTA: the getMessage response (raw original) is durable before its inbox row commits, each
attachment before the case commits, and the close reaches the XTA server only after that."""

from __future__ import annotations

import collections
import os
from collections.abc import Iterable, Mapping
from typing import Any

import pytest

from adapters.xta import samples
from adapters.xta.client import Content
from tests.e2e.durability_trace import DurabilityTrace
from tests.e2e.xta.conftest import Stack


class ClosesSeen(collections.Counter[str]):
    """The sandbox counts its calls here; a ``closed:<id>`` count is the close arriving."""

    def __init__(self, calls: Mapping[str, int], trace: DurabilityTrace) -> None:
        super().__init__(calls)
        self.trace = trace

    def update(self, other: Any = (), /, **kwargs: int) -> None:
        keys: Iterable[str] = other.keys() if isinstance(other, Mapping) else ()
        for key in keys:
            if key.startswith("closed:"):
                self.trace.acknowledged(key)
        super().update(other, **kwargs)


def test_xta_blob_durable_then_commit_then_close(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    scan = b"%PDF-1.7 " + os.urandom(100_000)
    message_id = samples.post(stack.portal, samples.WOHNGELD, samples.WOHNGELD.fixtures()[0].read_bytes(),
                              [Content(scan, "application/pdf", "mietvertrag.pdf")])
    gateway = stack.make_gateway()
    trace = DurabilityTrace.install(gateway, monkeypatch)
    monkeypatch.setattr(stack.state, "calls", ClosesSeen(stack.state.calls, trace))
    gateway.worker.run_until_idle()
    case = gateway.queries.case_by_source("xta", message_id)
    assert case is not None and case.attachments
    trace.check([case.original.storage_key, *(a.storage_key for a in case.attachments)], str(case.id),
                f"closed:{message_id}")

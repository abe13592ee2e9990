"""A worker round while the job queue is away (Redis restarting): the intake jobs wait, the rest
of the round — acknowledgements, webhooks, replies, all in the database — goes on."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.bootstrap import Gateway
from gateway.errors import UpstreamUnavailable


def test_the_outbox_goes_on_while_the_job_queue_is_away(gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    def away(*args: Any, **kwargs: Any) -> Any:
        raise UpstreamUnavailable("redis: ConnectionError")

    delivered: list[int] = []
    monkeypatch.setattr(gw.worker.queue, "reserve", away)
    monkeypatch.setattr(gw.worker.pipeline, "requeue_due", away)
    monkeypatch.setattr(gw.worker.dispatcher, "run_due", lambda: delivered.append(1) or 1)
    assert gw.worker.run_once() == 1
    assert delivered == [1]


def test_other_failures_of_a_round_still_surface(gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(gw.worker.queue, "reserve", broken)
    with pytest.raises(RuntimeError):
        gw.worker.run_once()

"""Sending one FIT-Connect resource at most once per key (fakes for the remote steps)."""

from __future__ import annotations

import pytest

from adapters.fitconnect.http import RemoteRefused
from adapters.fitconnect.once import Created, Once
from adapters.fitconnect.testing import MemoryStateStore


class Steps:
    def __init__(self, remote_submitted: bool = False, refuse_send: bool = False) -> None:
        self.calls: list[str] = []
        self.remote_submitted, self.refuse_send = remote_submitted, refuse_send
        self.count = 0

    def check(self) -> None:
        self.calls.append("check")

    def create(self) -> Created:
        self.count += 1
        self.calls.append("create")
        return Created(f"sub-{self.count}", f"case-{self.count}")

    def send(self, created: Created) -> None:
        self.calls.append(f"send {created.submission_id}")
        if self.refuse_send:
            raise RemoteRefused("PUT answered 409", status_code=409)
        self.remote_submitted = True

    def submitted(self, created: Created) -> bool:
        self.calls.append(f"look {created.submission_id}")
        return self.remote_submitted


def test_the_first_run_checks_creates_records_and_sends() -> None:
    state, steps = MemoryStateStore(), Steps()
    created = Once(state, "ns", mark_submitted=False).run("k", steps, {"destinationId": "d"})
    assert created == Created("sub-1", "case-1") and steps.calls == ["check", "create", "send sub-1"]
    assert state.get("ns", "k") == {"submissionId": "sub-1", "caseId": "case-1", "destinationId": "d",
                                    "submitted": False}


def test_a_repeated_run_only_looks_and_reports() -> None:
    state, steps = MemoryStateStore(), Steps()
    once = Once(state, "ns", mark_submitted=False)
    first = once.run("k", steps)
    again = Steps(remote_submitted=True)
    assert once.run("k", again) == first and again.calls == ["look sub-1"]


def test_marked_submitted_needs_not_even_a_look() -> None:
    state, once = MemoryStateStore(), Once(MemoryStateStore(), "ns")
    once.run("k", Steps())
    steps = Steps()
    assert once.run("k", steps) == Created("sub-1", "case-1") and steps.calls == []
    assert state.items == {}


def test_after_a_crash_before_sending_the_recorded_resource_is_continued() -> None:
    state = MemoryStateStore()
    crashing = Steps()
    crashing.send = lambda created: (_ for _ in ()).throw(RuntimeError("killed"))  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        Once(state, "ns").run("k", crashing)
    steps = Steps()
    assert Once(state, "ns").run("k", steps) == Created("sub-1", "case-1")
    assert steps.calls == ["look sub-1", "send sub-1"]  # no second create


def test_two_creating_at_once_continue_the_first_recorded() -> None:
    state = MemoryStateStore()
    other = Steps()
    other.count = 10
    Once(state, "ns").run("k", other)  # the other process recorded sub-11 first
    state.put("ns", "k", {"submissionId": "sub-11", "caseId": "case-11", "submitted": False})
    steps = Steps()
    steps.check = lambda: None  # type: ignore[method-assign]
    mine = Once(state, "ns")
    looks = iter([None])  # it looked before the other process recorded; then it reads the winner
    mine.recorded = lambda key: next(looks, state.get("ns", key))  # type: ignore[method-assign]
    assert mine.run("k", steps) == Created("sub-11", "case-11")
    assert steps.calls == ["create", "look sub-11", "send sub-11"]  # its own sub-1 stays incomplete


def test_a_refused_send_is_fine_only_when_the_log_shows_it_submitted() -> None:
    state = MemoryStateStore()
    Once(state, "ns", mark_submitted=False).run("k", Steps())
    late = Steps(refuse_send=True)
    answers = iter([False, True])  # not yet when it looks, submitted meanwhile by another process
    late.submitted = lambda created: next(answers)  # type: ignore[method-assign]
    assert Once(state, "ns").run("k", late) == Created("sub-1", "case-1")
    fresh = MemoryStateStore()
    with pytest.raises(RemoteRefused):
        Once(fresh, "ns").run("k", Steps(refuse_send=True))

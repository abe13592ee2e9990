"""Announced submissions: the callback records them, the worker's source fetches them first and
forgets each only once the core has received it (or it is gone)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from adapters.fitconnect import testing
from adapters.fitconnect.announcements import NAMESPACE, AnnouncedFirst, Announcements
from adapters.fitconnect.sandbox.config import DEMO_DESTINATION
from gateway.ports import InboundMessage

FIRST, SECOND = "f39ab143-d91a-474a-b69f-b00f1a1873c2", "0a3c1f7e-5b2d-4c8e-9f10-2b3c4d5e6f70"
CASE = "9eec7d3e-dc66-4f82-9f52-1520bf96a32e"


class FakeSource:
    """The parts of FitConnectSource the announced-first source uses."""

    def __init__(self, gone: frozenset[str] = frozenset(), failing: frozenset[str] = frozenset()) -> None:
        self.gone, self.failing = gone, failing
        self.fetched: list[tuple[str, str, str]] = []
        self.remembered: set[str] = set()
        self.listed = 0

    def seen(self, submission_id: str) -> bool:
        return submission_id in self.remembered

    def remember(self, submission_id: str) -> None:
        self.remembered.add(submission_id)

    def fetch(self, destination_id: str, submission_id: str, case_id: str = "") -> InboundMessage | None:
        self.fetched.append((destination_id, submission_id, case_id))
        if submission_id in self.failing:
            raise ConnectionError("Zustelldienst unreachable")
        if submission_id in self.gone:
            return None
        return InboundMessage(channel="fitconnect", source_id=submission_id, payload=b"{}", media_type="x",
                              received_at=dt.datetime.now(dt.UTC))

    def poll(self) -> Iterator[InboundMessage]:
        self.listed += 1
        return iter(())


def _rig(**source: Any) -> tuple[AnnouncedFirst, FakeSource, testing.MemoryStateStore]:
    state, fake = testing.MemoryStateStore(), FakeSource(**source)
    announcements = Announcements(state)
    for submission_id in (FIRST, SECOND):
        announcements.record(DEMO_DESTINATION, submission_id, CASE)
    return AnnouncedFirst(fake, announcements), fake, state  # type: ignore[arg-type]


def _pending(state: testing.MemoryStateStore) -> list[str]:
    return sorted(key for key, _ in state.scan(NAMESPACE, ""))


def test_announced_submissions_are_fetched_first_then_forgotten_once_received() -> None:
    source, fake, state = _rig()
    received = [message.source_id for message in source.poll()]  # the worker receives each as it comes
    assert received == [FIRST, SECOND]
    assert fake.fetched == [(DEMO_DESTINATION, FIRST, CASE), (DEMO_DESTINATION, SECOND, CASE)]
    assert fake.listed == 1  # the listing of the destinations follows
    assert _pending(state) == []


def test_an_announcement_stays_until_the_core_has_received_it() -> None:
    """The worker resumes the generator only after ``receive`` committed; a crash (or a failing
    receive) before that leaves the announcement for the next poll."""
    source, _, state = _rig()
    polling = source.poll()
    assert next(polling).source_id == FIRST
    assert _pending(state) == sorted([FIRST, SECOND])
    polling.close()  # receive raised: the worker stops iterating
    assert _pending(state) == sorted([FIRST, SECOND])
    assert [m.source_id for m in source.poll()] == [FIRST, SECOND]  # the next poll takes both
    assert _pending(state) == []


def test_a_failed_fetch_keeps_the_announcement_and_the_others_go_ahead() -> None:
    source, fake, state = _rig(failing=frozenset({FIRST}))
    assert [m.source_id for m in source.poll()] == [SECOND]
    assert _pending(state) == [FIRST]
    fake.failing = frozenset()
    assert [m.source_id for m in source.poll()] == [FIRST]
    assert _pending(state) == []


@pytest.mark.parametrize("reason", ["gone", "seen"])
def test_a_gone_or_already_fetched_submission_is_just_forgotten(reason: str) -> None:
    source, fake, state = _rig(gone=frozenset({FIRST}) if reason == "gone" else frozenset())
    if reason == "seen":
        fake.remember(FIRST)
    assert [m.source_id for m in source.poll()] == [SECOND]
    assert _pending(state) == []


def test_of_two_workers_only_one_fetches_an_announced_submission() -> None:
    first, first_fake, state = _rig()
    second_fake = FakeSource()
    second = AnnouncedFirst(second_fake, Announcements(state))  # type: ignore[arg-type]
    polling = first.poll_announced()
    assert next(polling).source_id == FIRST  # the first worker fetched it, the core receives it
    assert [m.source_id for m in second.poll_announced()] == [SECOND]
    assert [f[1] for f in second_fake.fetched] == [SECOND], "the claimed one is not fetched twice"
    assert list(polling) == []  # SECOND: done by the other worker meanwhile
    assert [f[1] for f in first_fake.fetched] == [FIRST] and _pending(state) == []

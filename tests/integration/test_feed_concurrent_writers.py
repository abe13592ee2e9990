"""Scale-out case creation without a global lock: writers commit side by side, and the case and
event feeds, read over and over while they write, still hand out every committed case exactly
once and always in the same order (gateway/store/case_repo.py explains why)."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from gateway.bootstrap import Gateway
from gateway.store import case_repo
from tests.conftest import TENANT, make_settings
from tests.integration.conftest import portal_message

OTHER = "150855500000"  # a second municipality: reference numbers are counted per municipality
WRITERS = 4
CASES_PER_WRITER = 15


@pytest.fixture
def scaleout(tmp_path: Path, pg_url: str, redis_url: str) -> Iterator[Gateway]:
    gateway = Gateway.create(make_settings(tmp_path, profile="scaleout", database_url=pg_url, redis_url=redis_url,
                                           queue_name=f"rgtest-{uuid.uuid4().hex[:8]}"))
    yield gateway
    gateway.close()


class _Intervals:
    """Per transaction: from its case INSERT to the moment it asks for COMMIT — the span in which
    its case is written but not yet visible. Under a global lock no two of them overlap."""

    def __init__(self, gateway: Gateway) -> None:
        self.spans: list[tuple[float, float]] = []
        self._open: dict[int, float] = {}
        self._lock = threading.Lock()
        engine = gateway.db.engine
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "commit", self._commit)

    def _statement(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO CASES"):
            with self._lock:
                self._open[id(conn)] = time.monotonic()

    def _commit(self, conn: Any) -> None:
        with self._lock:
            started = self._open.pop(id(conn), None)
            if started is not None:
                self.spans.append((started, time.monotonic()))

    def overlapping_pairs(self) -> int:
        ordered = sorted(self.spans)
        return sum(1 for (_, end), (start, _) in itertools.pairwise(ordered) if start < end)


def _read_all(gateway: Gateway, feed: str, after: case_repo.Position) -> tuple[list[str], case_repo.Position]:
    """Page through a feed from ``after`` to its current end (pages of 7: many cursor hand-overs)."""
    seen: list[str] = []
    while True:
        with gateway.db.reading() as conn:
            if feed == "cases":
                rows: list[tuple[case_repo.Position, str]] = [
                    (position, str(case.id)) for position, case in
                    case_repo.list_cases(conn, case_repo.CaseFilter(after=after, limit=7))]
            else:
                rows = [(position, str(data["subject"]))
                        for position, data in case_repo.events_after(conn, after, 7, None)]
        if not rows:
            return seen, after
        seen.extend(case_id for _, case_id in rows)
        after = rows[-1][0]


def test_writers_overlap_and_the_feeds_stay_complete_and_in_order(scaleout: Gateway) -> None:
    intervals = _Intervals(scaleout)
    committed: list[str] = []
    failures: list[BaseException] = []

    def writer(number: int) -> None:
        tenant = TENANT if number % 2 == 0 else OTHER
        try:
            for _ in range(CASES_PER_WRITER):
                case = scaleout.pipeline.intake(portal_message(tenant=tenant)).case
                assert case is not None
                committed.append(str(case.id))
        except BaseException as exc:  # reported by the test below
            failures.append(exc)

    polled: dict[str, list[str]] = {"cases": [], "events": []}
    positions: dict[str, case_repo.Position] = {"cases": case_repo.START, "events": case_repo.START}

    def poll() -> None:
        for feed in polled:
            seen, positions[feed] = _read_all(scaleout, feed, positions[feed])
            polled[feed].extend(seen)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        poll()  # a consumer that keeps its cursors while the writers run
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(committed) == WRITERS * CASES_PER_WRITER

    deadline = time.monotonic() + 60  # another client of the shared server may hold the horizon back
    while len(polled["cases"]) < len(committed) and time.monotonic() < deadline:
        poll()
        time.sleep(0.02)
    poll()

    assert intervals.overlapping_pairs() >= 1, "case-creating transactions ran one after another"
    # complete: every committed case exactly once, in the case feed and (its case.received) in the event feed
    assert sorted(polled["cases"]) == sorted(committed)
    assert len(set(polled["cases"])) == len(polled["cases"])
    # in order: the polling consumer saw exactly the order a fresh read from the start sees now
    fresh_cases, _ = _read_all(scaleout, "cases", case_repo.START)
    assert polled["cases"] == fresh_cases
    fresh_again, _ = _read_all(scaleout, "cases", case_repo.START)
    assert fresh_again == fresh_cases
    fresh_events, _ = _read_all(scaleout, "events", case_repo.START)
    assert polled["events"] == fresh_events
    assert len(fresh_events) == len(committed)


def test_a_sequence_number_cursor_alone_would_skip_a_late_commit(scaleout: Gateway) -> None:
    """Why the cursor is (xid, seq): a transaction that began first (smaller xid) takes the larger
    seq and commits last. A reader positioned by seq would already be past it; the feed is not."""
    first = scaleout.db.transaction()
    uow = first.__enter__()
    try:
        uow.conn.exec_driver_sql("SELECT pg_current_xact_id()")  # the first transaction's id is the smaller
        with scaleout.db.transaction() as second:
            case_repo.append_event(second.conn, _event("second"), str(uuid.uuid4()), TENANT, _now())
        case_repo.append_event(uow.conn, _event("first"), str(uuid.uuid4()), TENANT, _now())
        before, position = _read_all(scaleout, "events", case_repo.START)
        assert before == []
    finally:
        first.__exit__(None, None, None)
    deadline = time.monotonic() + 60
    seen: list[str] = []
    while len(seen) < 2 and time.monotonic() < deadline:
        more, position = _read_all(scaleout, "events", position)
        seen.extend(more)
    assert seen == ["first", "second"]
    with scaleout.db.reading() as conn:
        by_seq = [data["subject"] for _, data in
                  sorted(case_repo.events_after(conn, case_repo.START, 10, None), key=lambda r: r[0][1])]
    assert by_seq == ["second", "first"], "the late commit has the larger seq"


def _event(name: str) -> dict[str, object]:
    return {"id": str(uuid.uuid4()), "type": "case.status_changed", "subject": name, "data": {}}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def test_case_creations_of_one_municipality_do_not_wait_for_each_other(scaleout: Gateway) -> None:
    """One case transaction held open just before its COMMIT: a second case of the same
    municipality is created meanwhile (its reference number and audit entry included) — no row
    it needs stays locked until another case's commit."""
    writes_case: set[int] = set()
    held = threading.Event()
    second_done = threading.Event()
    stalls: list[bool] = []

    def statement(conn: Any, _cursor: Any, text: str, *_args: Any) -> None:
        if text.lstrip().upper().startswith("INSERT INTO CASES"):
            writes_case.add(id(conn))

    def commit(conn: Any) -> None:
        if id(conn) in writes_case and not held.is_set():
            held.set()
            stalls.append(not second_done.wait(10))  # True: the second one could not finish meanwhile

    event.listen(scaleout.db.engine, "before_cursor_execute", statement)
    event.listen(scaleout.db.engine, "commit", commit)
    try:
        first = threading.Thread(target=lambda: scaleout.pipeline.intake(portal_message(tenant=TENANT)))
        first.start()
        assert held.wait(30), "the first case transaction never reached its commit"
        second = scaleout.pipeline.intake(portal_message(tenant=TENANT)).case
        second_done.set()
        first.join(30)
    finally:
        event.remove(scaleout.db.engine, "commit", commit)
        event.remove(scaleout.db.engine, "before_cursor_execute", statement)
    assert second is not None
    assert stalls == [False], "the second case waited for the first one's commit"
    with scaleout.db.reading() as conn:
        references = sorted(case.reference for _, case in case_repo.list_cases(conn, case_repo.CaseFilter()))
    assert len(references) == 2 and len(set(references)) == 2

"""Adapter health on the real stores: breakers shared by processes (two recorders on one
database stand for two workers), deliveries that wait while a circuit is open, the overview."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import Connection, select

from gateway.bootstrap import Gateway
from gateway.config import HealthSettings, Settings, WebhookConfig
from gateway.errors import CircuitOpen, InvalidPayload, UpstreamUnavailable
from gateway.health.model import AdapterKey
from gateway.health.recorder import HealthRecorder
from gateway.store import outbox_repo
from gateway.store.outbox_repo import OutboxRow
from gateway.store.tables import outbox
from tests.conftest import OTHER_TENANT, TENANT, make_settings

HEALTH = {"failure_threshold": 3, "cooldown_seconds": 10, "cooldown_max_seconds": 40, "write_interval_seconds": 0}
KEY = AdapterKey("test_adapter", "upstream")


@dataclass
class Clock:
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC).replace(microsecond=0))

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@dataclass
class Flaky:
    """An outbox handler whose upstream fails while ``down``; counts every call it gets."""

    down: bool = True
    calls: list[int] = field(default_factory=list)
    delivered_rows: list[int] = field(default_factory=list)
    adapter_kind: str = "test_adapter"

    def deliver(self, row: OutboxRow) -> None:
        self.calls.append(row.id)
        if self.down:
            raise UpstreamUnavailable("upstream answered 500")

    def delivered(self, conn: Connection, row: OutboxRow, now: dt.datetime) -> None:
        self.delivered_rows.append(row.id)


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    extra = {"database_url": request.getfixturevalue("pg_url")} if request.param == "postgresql" else {}
    return make_settings(tmp_path, health=HEALTH, **extra)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gw(settings: Settings, clock: Clock) -> Iterator[Gateway]:
    gateway = Gateway.create(settings, clock=clock)
    yield gateway
    gateway.close()


def add_rows(gw: Gateway, count: int, kind: str = "probe", target: str = "upstream") -> list[int]:
    with gw.db.transaction() as uow:
        return [outbox_repo.add(uow.conn, kind=kind, target=target, payload={}, now=gw.clock())
                for _ in range(count)]


def rows(gw: Gateway) -> dict[int, tuple[str, int, dt.datetime]]:
    with gw.db.reading() as conn:
        found = conn.execute(select(outbox.c.id, outbox.c.state, outbox.c.attempts, outbox.c.next_attempt_at))
        return {r.id: (r.state, r.attempts, r.next_attempt_at) for r in found}


def test_workers_share_one_breaker_and_one_probe(gw: Gateway, clock: Clock) -> None:
    first = gw.health_recorder
    second = HealthRecorder(gw.db, gw.settings.health, clock)  # another worker process
    for _ in range(3):
        with pytest.raises(UpstreamUnavailable):
            first.call(KEY, lambda: (_ for _ in ()).throw(UpstreamUnavailable("down")))
    second.refresh(force=True)
    with pytest.raises(CircuitOpen):
        second.call(KEY, lambda: "never called")
    clock.advance(10)
    assert first.permit(KEY) is True, "the first to ask after the cool-down takes the probe"
    second.refresh(force=True)
    assert second.permit(KEY) is False, "... and no one else meanwhile"
    first.record(KEY, "ok")
    second.refresh(force=True)
    assert second.call(KEY, lambda: "called") == "called"
    [status] = [s for s in gw.health.overview() if s.name == "upstream"]
    assert (status.circuit, status.consecutive_failures) == ("closed", 0)
    assert status.last_success_at == clock.now and status.calls == 5
    # closed, but three of the five calls in the recent window failed: degraded until they age out
    assert status.state == "degraded" and status.error_rate == pytest.approx(0.6)
    clock.advance(2 * gw.settings.health.error_window_seconds)
    assert next(s for s in gw.health.overview() if s.name == "upstream").state == "ok"


def test_a_refusal_is_no_failure_of_the_adapter(gw: Gateway) -> None:
    for _ in range(5):
        with pytest.raises(InvalidPayload):
            gw.health_recorder.call(KEY, lambda: (_ for _ in ()).throw(InvalidPayload("refused")))
    [status] = [s for s in gw.health.overview() if s.name == "upstream"]
    assert status.circuit == "closed" and status.last_error is None and status.error_rate == 0


def test_successes_of_a_healthy_adapter_are_written_in_batches(gw: Gateway, clock: Clock) -> None:
    ticks = [0.0]
    recorder = HealthRecorder(gw.db, HealthSettings(write_interval_seconds=5), clock, monotonic=lambda: ticks[0])
    recorder.record(KEY, "ok")  # unknown adapter: written at once
    for _ in range(10):
        recorder.record(KEY, "ok")
    assert next(s for s in gw.health.overview() if s.name == "upstream").calls == 1
    ticks[0] = 6.0
    recorder.refresh(force=True)
    assert next(s for s in gw.health.overview() if s.name == "upstream").calls == 11
    recorder.record(KEY, "ok")
    recorder.flush()
    assert next(s for s in gw.health.overview() if s.name == "upstream").calls == 12


def test_while_the_circuit_is_open_deliveries_wait_untried_and_then_go_through(gw: Gateway, clock: Clock) -> None:
    flaky = Flaky()
    gw.dispatcher.handlers["probe"] = flaky
    ids = add_rows(gw, 5)
    gw.dispatcher.run_due()
    for _ in range(2):  # a target that failed gets no further attempt in the same round
        clock.advance(1)
        gw.dispatcher.run_due()
    assert len(flaky.calls) == 3, "three failures open the circuit; the other rows are not tried"
    gw.dispatcher.run_due()  # the row that failed before it opened is moved to its cool-down too
    assert len(flaky.calls) == 3
    states = rows(gw)
    assert all(states[i][2] >= clock.now + dt.timedelta(seconds=9) for i in ids), "all wait for the cool-down"
    assert sorted(states[i][1] for i in ids) == [0, 0, 0, 0, 3], "the untried ones used up no attempt"
    [status] = [s for s in gw.health.overview() if s.name == "upstream"]
    assert (status.state, status.circuit, status.backlog) == ("down", "open", 5)
    assert status.last_error is not None and status.last_error.type.endswith("/upstream-unavailable")
    assert status.retry_at == clock.now + dt.timedelta(seconds=10)

    for _ in range(5):  # nothing is tried while the circuit is open
        clock.advance(1.5)
        gw.dispatcher.run_due()
    assert len(flaky.calls) == 3

    clock.advance(3)  # the cool-down is over: one probe, still failing -> open for 20 s
    gw.dispatcher.run_due()
    assert len(flaky.calls) == 4
    [status] = [s for s in gw.health.overview() if s.name == "upstream"]
    assert status.circuit == "open" and status.retry_at == clock.now + dt.timedelta(seconds=20)

    flaky.down = False
    clock.advance(20)
    gw.dispatcher.run_due()
    assert sorted(flaky.delivered_rows) == ids, "the probe closed the circuit, the rest followed"
    [status] = [s for s in gw.health.overview() if s.name == "upstream"]
    assert (status.state, status.circuit, status.backlog) == ("degraded", "closed", 0)  # recent errors
    assert all(state == "done" for state, _, _ in rows(gw).values())
    assert len(flaky.calls) == 4 + 5


def test_the_overview_lists_every_instance_with_backlog_and_lag(tmp_path: Path, clock: Clock) -> None:
    hooks = [WebhookConfig(name="ours", url="http://127.0.0.1:9/h", secret="s" * 32, tenants=[TENANT]),
             WebhookConfig(name="theirs", url="http://127.0.0.1:9/h", secret="s" * 32, tenants=[OTHER_TENANT])]
    gw = Gateway.create(make_settings(tmp_path, webhooks=hooks, health=HEALTH), clock=clock)
    try:
        case_rows = add_rows(gw, 2, kind="webhook", target="ours")
        with gw.db.transaction() as uow:
            uow.conn.execute(outbox.update().where(outbox.c.id == case_rows[0]).values(state="dead"))
        clock.advance(30)
        everyone = {(s.kind, s.name): s for s in gw.health.overview()}
        assert set(everyone) == {("webhook", "ours"), ("webhook", "theirs")}
        ours = everyone[("webhook", "ours")]
        assert (ours.backlog, ours.dead_letters, ours.state) == (1, 1, "ok")
        assert ours.lag_seconds == pytest.approx(30)
        limited = {(s.kind, s.name) for s in gw.health.overview([TENANT])}
        assert limited == {("webhook", "ours")}
    finally:
        gw.close()


def test_work_waiting_too_long_makes_an_adapter_degraded(tmp_path: Path, clock: Clock) -> None:
    hooks = [WebhookConfig(name="slow", url="http://127.0.0.1:9/h", secret="s" * 32)]
    gw = Gateway.create(make_settings(tmp_path, webhooks=hooks, health={"degraded_lag_seconds": 60}), clock=clock)
    try:
        add_rows(gw, 1, kind="webhook", target="slow")
        assert next(s for s in gw.health.overview() if s.name == "slow").state == "ok"
        clock.advance(61)
        assert next(s for s in gw.health.overview() if s.name == "slow").state == "degraded"
    finally:
        gw.close()


def test_outbox_rows_carry_the_correlation_id_of_their_message(tmp_path: Path) -> None:
    from tests.integration.conftest import portal_message

    hooks = [WebhookConfig(name="fv", url="http://127.0.0.1:9/h", secret="s" * 32)]
    gw = Gateway.create(make_settings(tmp_path, webhooks=hooks))
    try:
        from gateway.logs import correlation

        with correlation.bound("portal-request-0001"):
            outcome = gw.pipeline.intake(portal_message(), None)
        assert outcome.case is not None
        with gw.db.reading() as conn:
            found = conn.execute(select(outbox.c.kind, outbox.c.correlation_id)).all()
        assert found == [("webhook", "portal-request-0001")]
        # a later change of the case (a status change in another request) keeps the message's id
        with correlation.bound(uuid.uuid4().hex), gw.db.transaction() as uow:
            outbox_repo.add(uow.conn, kind="webhook", target="fv", payload={}, now=gw.clock(),
                            case_id=str(outcome.case.id))
        with gw.db.reading() as conn:
            assert {c for (c,) in conn.execute(select(outbox.c.correlation_id))} == {"portal-request-0001"}
    finally:
        gw.close()

"""The circuit breaker's rules (gateway.health.breaker), as pure functions of a state."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.config import HealthSettings
from gateway.errors import BlobNotFound, ConfigurationError, InvalidPayload, NotFound, UpstreamUnavailable
from gateway.health import breaker
from gateway.health.model import Breaker, ErrorSummary

T0 = dt.datetime(2026, 5, 1, 8, 0, tzinfo=dt.UTC)
SETTINGS = HealthSettings(failure_threshold=3, cooldown_seconds=10, cooldown_max_seconds=35, error_window_seconds=60)
ERROR = ErrorSummary(type="https://rathaus-gateway.de/problems/upstream-unavailable", title="unreachable")


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def fail(state: Breaker, seconds: float) -> Breaker:
    return breaker.after(state, at(seconds), SETTINGS, failed=True, error=ERROR)


def succeed(state: Breaker, seconds: float) -> Breaker:
    return breaker.after(state, at(seconds), SETTINGS, success_at=at(seconds))


def test_the_circuit_opens_after_the_threshold_of_consecutive_failures() -> None:
    state = Breaker.fresh(T0)
    state = fail(fail(state, 1), 2)
    assert state.circuit == "closed" and state.consecutive_failures == 2
    state = fail(state, 3)
    assert state.circuit == "open" and state.opened_at == at(3) and state.retry_at == at(13)
    assert state.last_error_type == ERROR.type and state.last_failure_at == at(3)


def test_a_success_in_between_starts_the_count_again() -> None:
    state = fail(fail(Breaker.fresh(T0), 1), 2)
    state = succeed(state, 3)
    state = fail(fail(state, 4), 5)
    assert state.circuit == "closed" and state.consecutive_failures == 2 and state.last_success_at == at(3)


def test_a_probe_may_run_only_after_the_cooldown() -> None:
    state = fail(fail(fail(Breaker.fresh(T0), 1), 2), 3)
    assert not breaker.may_probe(state, at(12.9))
    assert breaker.may_probe(state, at(13))


def test_a_failed_probe_opens_again_for_twice_as_long_up_to_the_cap() -> None:
    state = fail(fail(fail(Breaker.fresh(T0), 1), 2), 3)
    probing = Breaker(**{**state.__dict__, "circuit": "half_open", "probe_until": at(100)})
    again = fail(probing, 14)
    assert again.circuit == "open" and again.retry_at == at(34) and again.opened_at == at(3)
    probing = Breaker(**{**again.__dict__, "circuit": "half_open"})
    third = fail(probing, 35)
    assert third.retry_at == at(70)  # 40 s, capped at 35
    assert breaker.cooldown(3, SETTINGS) == 35


def test_a_successful_probe_closes_the_circuit() -> None:
    state = fail(fail(fail(Breaker.fresh(T0), 1), 2), 3)
    probing = Breaker(**{**state.__dict__, "circuit": "half_open", "probe_until": at(100)})
    closed = succeed(probing, 14)
    assert (closed.circuit, closed.consecutive_failures, closed.trips, closed.retry_at) == ("closed", 0, 0, None)
    assert closed.last_success_at == at(14)


def test_an_abandoned_probe_may_be_taken_over_after_its_timeout() -> None:
    state = Breaker(**{**Breaker.fresh(T0).__dict__, "circuit": "half_open", "probe_until": at(50)})
    assert not breaker.may_probe(state, at(49)) and breaker.may_probe(state, at(50))


def test_the_error_rate_covers_the_recent_window_only() -> None:
    state = Breaker.fresh(T0)
    for second in range(4):
        state = succeed(state, second)
    state = fail(state, 5)
    assert breaker.error_rate(state, at(6), SETTINGS) == (pytest.approx(0.2), 5)
    assert breaker.error_rate(state, at(70), SETTINGS) == (pytest.approx(0.2), 5)  # the previous window
    assert breaker.error_rate(state, at(130), SETTINGS) == (0.0, 0)  # gone


def test_held_back_successes_count_as_calls() -> None:
    state = breaker.after(Breaker.fresh(T0), at(9), SETTINGS, calls=7, success_at=at(8))
    assert state.window_calls == 7 and state.last_success_at == at(8)


@pytest.mark.parametrize(("error", "verdict"), [
    (UpstreamUnavailable("down"), "failed"), (TimeoutError(), "failed"), (ConfigurationError("bad"), "failed"),
    (InvalidPayload("refused by upstream"), "refused"), (NotFound("gone"), "refused"),
    (BlobNotFound("ours"), None)])
def test_what_counts_against_an_adapter(error: Exception, verdict: str | None) -> None:
    assert breaker.classify(error) == verdict


def test_an_error_summary_keeps_type_and_title_never_the_detail() -> None:
    summary = ErrorSummary.of(UpstreamUnavailable("Erika Mustermann, 1980-02-29"))
    assert summary.type.endswith("/upstream-unavailable") and "Erika" not in summary.title
    assert ErrorSummary.of(ValueError("Erika")).title == "ValueError"


def test_a_refusal_closes_like_an_answer_but_is_no_success() -> None:
    state = fail(fail(fail(Breaker.fresh(T0), 1), 2), 3)
    probing = Breaker(**{**state.__dict__, "circuit": "half_open", "probe_until": at(100)})
    answered = breaker.after(probing, at(14), SETTINGS)  # refused: reached, but no success time
    assert answered.circuit == "closed" and answered.last_success_at is None

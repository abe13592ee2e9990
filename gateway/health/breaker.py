"""The circuit breaker's rules, as pure functions of a recorded state and what just happened.

closed     every call goes through; ``failure_threshold`` consecutive failures open it.
open       no call until ``retry_at`` (the cool-down: ``cooldown_seconds``, doubled after every
           failed probe up to ``cooldown_max_seconds``); the work waits (outbox rows are
           rescheduled to ``retry_at``, polls are skipped).
half_open  one worker has taken the probe (until ``probe_until``): its success closes the
           circuit, its failure opens it again for a longer cool-down.

A refusal (a permanent error: the upstream answered, but not to this item) counts as a call
that reached the adapter — it closes a half-open circuit and resets the failures, but is no
"successful delivery".
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from gateway.config import HealthSettings
from gateway.errors import BlobNotFound, ClientError, PermanentError
from gateway.health.model import Breaker, ErrorSummary, Verdict


def classify(exc: BaseException) -> Verdict | None:
    """How a call that raised ``exc`` counts for its adapter; None: not the adapter's doing
    (a blob of our own store is missing), so it does not count at all."""
    if isinstance(exc, BlobNotFound):
        return None
    if isinstance(exc, PermanentError | ClientError):
        return "refused"
    return "failed"


def cooldown(trips: int, settings: HealthSettings) -> float:
    return float(min(settings.cooldown_max_seconds, settings.cooldown_seconds * 2 ** max(trips - 1, 0)))


def rolled(state: Breaker, now: dt.datetime, settings: HealthSettings) -> Breaker:
    """The call counters with the window moved on to ``now``: the error rate covers the current
    window and the one before it."""
    elapsed = (now - state.window_started_at).total_seconds()
    if elapsed < settings.error_window_seconds:
        return state
    recent = elapsed < 2 * settings.error_window_seconds
    return dataclasses.replace(state, window_started_at=now, window_calls=0, window_failures=0,
                               previous_calls=state.window_calls if recent else 0,
                               previous_failures=state.window_failures if recent else 0)


def error_rate(state: Breaker, now: dt.datetime, settings: HealthSettings) -> tuple[float, int]:
    """(failed calls / calls, calls) over the recent window."""
    current = rolled(state, now, settings)
    calls = current.window_calls + current.previous_calls
    failures = current.window_failures + current.previous_failures
    return (failures / calls if calls else 0.0), calls


def may_probe(state: Breaker, now: dt.datetime) -> bool:
    """Whether a call may be made now as the probe of an open (or abandoned half-open) circuit."""
    if state.circuit == "open":
        return state.retry_at is None or state.retry_at <= now
    if state.circuit == "half_open":
        return state.probe_until is None or state.probe_until <= now
    return False


def after(state: Breaker, now: dt.datetime, settings: HealthSettings, *, calls: int = 1, failed: bool = False,
          success_at: dt.datetime | None = None, error: ErrorSummary | None = None) -> Breaker:
    """The state once ``calls`` more calls have ended: the last of them failed (``failed``), or
    all of them reached the adapter. ``success_at``: when the last successful one (not a mere
    refusal) ended. Several calls come at once when successes of a healthy adapter were held
    back to save writes."""
    state = rolled(state, now, settings)
    last_success = max((t for t in (state.last_success_at, success_at) if t is not None), default=None)
    counted = dataclasses.replace(state, window_calls=state.window_calls + calls, last_success_at=last_success,
                                  updated_at=now)
    if not failed:
        return dataclasses.replace(counted, circuit="closed", consecutive_failures=0, trips=0, opened_at=None,
                                   retry_at=None, probe_until=None)
    changed = dataclasses.replace(
        counted, consecutive_failures=state.consecutive_failures + 1, window_failures=state.window_failures + 1,
        last_failure_at=now, last_error_type=error.type[:255] if error else None,
        last_error_title=error.title[:255] if error else None)
    probe_failed = state.circuit == "half_open"
    if probe_failed or (state.circuit == "closed" and changed.consecutive_failures >= settings.failure_threshold):
        trips = state.trips + 1
        return dataclasses.replace(changed, circuit="open", trips=trips, probe_until=None,
                                   opened_at=state.opened_at if probe_failed else now,
                                   retry_at=now + dt.timedelta(seconds=cooldown(trips, settings)))
    return changed  # already open (a call of a worker that had not heard yet): the cool-down stands

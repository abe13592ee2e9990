"""Citizen sessions: the lifetime and idle limits per trust level, refresh, logout, forgery."""

from __future__ import annotations

import datetime as dt

import pytest

from adapters.citizen_login.testing import MemoryState
from gateway.case.model import TrustLevel
from gateway.identity import CitizenSessionInvalid, LoginIdentity
from gateway.sessions import LIMITS, SessionService, session_issuer

START = dt.datetime(2026, 5, 4, 8, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now


def identity(level: TrustLevel) -> LoginIdentity:
    return LoginIdentity(provider="bundid", tenant_ars="150905350535", pseudonym="bpk2-4711", trust_level=level,
                         authn_context="STORK-QAA-Level-3", proved_by="Elster",
                         postbox_handle="5f0c2b1e-8d4a-4c7e-9b3f-2a6d8e1c0f47")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(clock: Clock) -> SessionService:
    return SessionService("citizen_login", b"k" * 32, MemoryState(clock), clock)


@pytest.mark.parametrize(("level", "lifetime", "idle"), [
    (TrustLevel.NIEDRIG, dt.timedelta(hours=12), dt.timedelta(minutes=60)),
    (TrustLevel.SUBSTANTIELL, dt.timedelta(hours=2), dt.timedelta(minutes=30)),
    (TrustLevel.HOCH, dt.timedelta(minutes=30), dt.timedelta(minutes=5)),
])
def test_limits_per_trust_level(service: SessionService, clock: Clock, level: TrustLevel,
                                lifetime: dt.timedelta, idle: dt.timedelta) -> None:
    assert LIMITS[level].lifetime == lifetime and LIMITS[level].idle == idle
    token = service.issue(identity(level))
    clock.now = START + idle - dt.timedelta(seconds=1)
    session = service.verify(token)
    assert session.identity.trust_level is level and session.identity.proved_by == "Elster"
    clock.now = START + idle
    with pytest.raises(CitizenSessionInvalid, match="expired"):
        service.verify(token)


def test_refresh_resets_the_idle_clock_but_not_the_lifetime(service: SessionService, clock: Clock) -> None:
    token = service.issue(identity(TrustLevel.HOCH))
    for _ in range(5):  # 5 x 4 min of activity
        clock.now += dt.timedelta(minutes=4)
        token = service.refresh(service.verify(token))
    clock.now += dt.timedelta(minutes=4)  # 24 min after login, 4 min idle: still valid
    token = service.refresh(service.verify(token))
    clock.now = START + dt.timedelta(minutes=30)
    with pytest.raises(CitizenSessionInvalid):
        service.verify(token)


def test_logout_revokes_every_token_of_the_session(service: SessionService, clock: Clock) -> None:
    token = service.issue(identity(TrustLevel.NIEDRIG))
    refreshed = service.refresh(service.verify(token))
    service.revoke(service.verify(refreshed))
    for old in (token, refreshed):
        with pytest.raises(CitizenSessionInvalid, match="logged out"):
            service.verify(old)


def test_tokens_of_another_key_or_tampered_are_refused(service: SessionService, clock: Clock) -> None:
    other = SessionService("citizen_login", b"o" * 32, MemoryState(clock), clock)
    with pytest.raises(CitizenSessionInvalid):
        service.verify(other.issue(identity(TrustLevel.HOCH)))
    token = service.issue(identity(TrustLevel.NIEDRIG))
    header, payload, signature = token.split(".")
    with pytest.raises(CitizenSessionInvalid):
        service.verify(f"{header}.{payload[:-2]}AA.{signature}")
    assert session_issuer(token) == "citizen_login"


def test_short_keys_are_refused(clock: Clock) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        SessionService("x", b"short", MemoryState(clock), clock)

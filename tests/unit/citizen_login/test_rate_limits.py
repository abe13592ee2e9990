"""Rate limit and lockout per client address on the SAML endpoints, on the gateway's throttle
with memory counters: the throttle alone, then the routes (login start, ACS, SLO) in an app of
their own — 429 problem with Retry-After, a locked address refused before its body is read."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from adapters.citizen_login.limits import AddressThrottle
from adapters.citizen_login.options import RateLimits
from adapters.citizen_login.routes import router_for
from adapters.citizen_login.sandbox.responses import refusal
from adapters.citizen_login.testing import TENANT
from gateway.api import problems
from gateway.api.throttle import MemoryCounters
from gateway.errors import PROBLEM_BASE, InvalidPayload, TooManyRequests, UpstreamUnavailable
from gateway.identity import LoginRefused, LoginRejected
from tests.unit.citizen_login.conftest import RETURN_TO, World, make_world

ADDRESS, OTHER = "192.0.2.10", "198.51.100.7"
ACS = f"/v1/citizen/saml/{TENANT}/sandbox/acs"
START = f"/v1/citizen/login/{TENANT}/sandbox"
SLO = f"/v1/citizen/saml/{TENANT}/sandbox/slo"


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def throttle(limits: RateLimits) -> tuple[AddressThrottle, Monotonic]:
    clock = Monotonic()
    return AddressThrottle(limits, MemoryCounters(now=clock)), clock


def refused_for(check: Callable[[], None]) -> int:
    """The Retry-After of the TooManyRequests ``check`` raises."""
    with pytest.raises(TooManyRequests) as caught:
        check()
    return caught.value.retry_after


def test_requests_over_the_rate_are_refused_until_the_minute_is_over() -> None:
    limiter, clock = throttle(RateLimits(requests_per_minute=3))
    for _ in range(3):
        limiter.admit(ADDRESS)
    clock.now += 20
    assert refused_for(lambda: limiter.admit(ADDRESS)) == 40
    limiter.admit(OTHER)  # another address has a rate of its own
    clock.now += 40
    limiter.admit(ADDRESS)


def test_failures_lock_the_address_out_for_the_lockout() -> None:
    limiter, clock = throttle(RateLimits(max_failures=3, failure_window_seconds=60, lockout_seconds=120))
    limiter.failed(ADDRESS)
    limiter.failed(ADDRESS)
    limiter.admit(ADDRESS)
    limiter.failed(ADDRESS)
    assert refused_for(lambda: limiter.admit(ADDRESS)) == 120
    limiter.admit(OTHER)
    clock.now += 119
    assert refused_for(lambda: limiter.admit(ADDRESS)) == 1
    clock.now += 1
    limiter.admit(ADDRESS)


def test_failures_further_apart_than_the_window_do_not_add_up() -> None:
    limiter, clock = throttle(RateLimits(max_failures=3, failure_window_seconds=60))
    limiter.failed(ADDRESS)
    limiter.failed(ADDRESS)
    clock.now += 61
    limiter.failed(ADDRESS)
    limiter.failed(ADDRESS)
    limiter.admit(ADDRESS)


@pytest.mark.parametrize("error,counted", [
    (LoginRejected("the signature does not verify", check="signature-invalid"), True),
    (InvalidPayload("XML with a DOCTYPE is not accepted"), True),
    (LoginRefused("cancelled", status_code="urn:oasis:names:tc:SAML:2.0:status:Responder"), False),
    (UpstreamUnavailable("the identity provider's metadata cannot be fetched"), False),
], ids=["rejected", "malformed-xml", "refused-by-the-idp", "upstream-down"])
def test_only_rejected_answers_count_as_failures(error: Exception, counted: bool) -> None:
    limiter, _ = throttle(RateLimits(max_failures=1))

    async def answer() -> None:
        async with limiter.counting_rejections(ADDRESS):
            raise error

    with pytest.raises(type(error)):
        anyio.run(answer)
    if counted:
        refused_for(lambda: limiter.admit(ADDRESS))
    else:
        limiter.admit(ADDRESS)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return make_world(tmp_path)


def client_for(world: World, limits: RateLimits) -> tuple[TestClient, Monotonic]:
    app = FastAPI()
    problems.install(app)
    limiter, clock = throttle(limits)
    app.include_router(router_for(world.container, limiter))
    return TestClient(app, follow_redirects=False), clock


def assert_too_many(response: httpx.Response, retry_after: int | None = None) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == PROBLEM_BASE + "too-many-requests"
    assert int(response.headers["retry-after"]) == response.json()["retry_after"]
    if retry_after is not None:
        assert int(response.headers["retry-after"]) == retry_after


def test_forged_responses_lock_the_address_out_before_the_body_is_read(world: World) -> None:
    http, clock = client_for(world, RateLimits(requests_per_minute=100, max_failures=3, lockout_seconds=300))
    forgeries: list[Callable[[World], dict[str, str]]] = [
        lambda w: w.fields(w.response(), relay="a-relay-state-no-login-has"),  # unsolicited
        lambda w: w.fields(w.response(sign=False)),  # an unsigned assertion
        lambda w: w.fields(b"<!DOCTYPE x [<!ENTITY e 'e'>]><x>&e;</x>"),  # an entity trick
    ]
    for forge in forgeries:
        world.restart()
        answer = http.post(ACS, data=forge(world))
        assert answer.status_code in (403, 422), answer.text
    world.restart()
    genuine = world.fields(world.response())
    assert_too_many(http.post(ACS, data=genuine), retry_after=300)
    assert_too_many(http.get(START, params={"return_to": RETURN_TO}))
    clock.now += 300
    # the locked request never reached the login it named: the same answer is good now
    back = http.post(ACS, data=genuine)
    assert back.status_code == 303, back.text
    assert back.headers["location"].startswith(RETURN_TO + "?code=")


def test_a_refusal_by_the_identity_provider_does_not_count(world: World) -> None:
    http, _ = client_for(world, RateLimits(max_failures=1))
    cancelled = refusal(world.spec(), "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed", "Abgebrochen",
                        "Die Anmeldung wurde abgebrochen.")
    assert http.post(ACS, data=world.fields(cancelled)).status_code == 303
    world.restart()
    assert http.post(ACS, data=world.fields(world.response())).status_code == 303


def test_login_start_and_acs_share_the_address_rate(world: World) -> None:
    http, clock = client_for(world, RateLimits(requests_per_minute=3))
    for _ in range(2):
        assert http.get(START, params={"return_to": RETURN_TO}).status_code == 200
    assert http.post(ACS, data=world.fields(world.response())).status_code == 303
    assert_too_many(http.get(START, params={"return_to": RETURN_TO}))
    assert_too_many(http.post(ACS, data=world.fields(world.response())))
    clock.now += 60
    assert http.get(START, params={"return_to": RETURN_TO}).status_code == 200


def test_forged_logout_answers_count_too(world: World) -> None:
    http, _ = client_for(world, RateLimits(max_failures=2))
    for _ in range(2):
        assert http.get(SLO, params={"SAMLResponse": "AAAA", "RelayState": "x"}).status_code == 403
    assert_too_many(http.get(SLO, params={"SAMLResponse": "AAAA", "RelayState": "x"}))
    assert_too_many(http.post(ACS, data=world.fields(world.response())))

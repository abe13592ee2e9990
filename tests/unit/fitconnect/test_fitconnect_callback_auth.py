"""Callback authentication: HMAC-SHA512 over "timestamp.body", age, skew, replays."""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from fastapi import FastAPI

from adapters.fitconnect import testing
from adapters.fitconnect.callback import (
    CALLBACK_TYPE,
    MAX_BODY,
    REFUSED,
    REPLAY_NAMESPACE,
    CallbackAuthenticator,
    CallbackRejected,
    callback_router,
    callback_signature,
    parse_announcements,
)
from adapters.fitconnect.plugin import parse_options
from adapters.fitconnect.sandbox.config import DEMO_CALLBACK_SECRET, DEMO_DESTINATION
from tests.support.servers import serve_app

NOW = 1_800_000_000
BODY = (b'{"type":"' + CALLBACK_TYPE.encode() + b'","submissions":[{"destinationId":"' + DEMO_DESTINATION.encode()
        + b'","submissionId":"f39ab143-d91a-474a-b69f-b00f1a1873c2","caseId":"9eec7d3e-dc66-4f82-9f52-1520bf96a32e"}]}')


class Clock:
    def __init__(self) -> None:
        self.now = float(NOW)

    def __call__(self) -> float:
        return self.now


OPTIONS = parse_options(testing.gateway_options("http://sandbox.invalid"))


@pytest.fixture
def auth() -> tuple[CallbackAuthenticator, Clock]:
    clock = Clock()
    return CallbackAuthenticator(OPTIONS, testing.MemoryStateStore(clock), clock), clock


def signed(timestamp: int, body: bytes = BODY, secret: str = DEMO_CALLBACK_SECRET) -> tuple[str, str]:
    return str(timestamp), callback_signature(secret, str(timestamp), body)


def test_known_vector() -> None:
    # printf '1672527599.{}' | openssl dgst -sha512 -hmac secret
    assert callback_signature("secret", "1672527599", b"{}") == (
        "25196008fae028b8485625b635453b6b1b84552927f79e75fbc6eb625e1477e7"
        "0737607c15c751bc0280c24e5cd1fb76408422dc426c66c27e284f8a264e72e7")


def test_valid_callback_passes_once(auth: tuple[CallbackAuthenticator, Clock]) -> None:
    checker, _ = auth
    checker.check(DEMO_DESTINATION, *signed(NOW - 10), BODY)
    with pytest.raises(CallbackRejected, match="replayed"):
        checker.check(DEMO_DESTINATION, *signed(NOW - 10), BODY)


def test_stale_and_future_timestamps(auth: tuple[CallbackAuthenticator, Clock]) -> None:
    checker, _ = auth
    with pytest.raises(CallbackRejected, match="stale"):
        checker.check(DEMO_DESTINATION, *signed(NOW - 301), BODY)
    checker.check(DEMO_DESTINATION, *signed(NOW - 300), BODY)
    with pytest.raises(CallbackRejected, match="future"):
        checker.check(DEMO_DESTINATION, *signed(NOW + 31), BODY)
    checker.check(DEMO_DESTINATION, *signed(NOW + 30), BODY)


def test_wrong_secret_body_or_destination(auth: tuple[CallbackAuthenticator, Clock]) -> None:
    checker, _ = auth
    with pytest.raises(CallbackRejected, match="signature"):
        checker.check(DEMO_DESTINATION, *signed(NOW, secret="x" * 40), BODY)
    stamp, signature = signed(NOW)
    with pytest.raises(CallbackRejected, match="signature"):
        checker.check(DEMO_DESTINATION, stamp, signature, BODY + b" ")
    with pytest.raises(CallbackRejected, match="destination"):
        checker.check("00000000-0000-0000-0000-000000000000", stamp, signature, BODY)
    with pytest.raises(CallbackRejected, match="signature"):
        checker.check(DEMO_DESTINATION, None, signature, BODY)
    with pytest.raises(CallbackRejected, match="signature"):
        checker.check(DEMO_DESTINATION, "\u00b2", signature, BODY)  # "²".isdigit(), but no number


def test_replay_memory_forgets_only_what_is_stale_anyway(auth: tuple[CallbackAuthenticator, Clock]) -> None:
    checker, clock = auth
    checker.check(DEMO_DESTINATION, *signed(NOW), BODY)
    clock.now += 200
    with pytest.raises(CallbackRejected, match="replayed"):
        checker.check(DEMO_DESTINATION, *signed(NOW), BODY)
    clock.now += 200
    with pytest.raises(CallbackRejected, match="stale"):
        checker.check(DEMO_DESTINATION, *signed(NOW), BODY)


def test_announcements_for_other_destinations_are_ignored() -> None:
    assert [a["submissionId"] for a in parse_announcements(BODY, DEMO_DESTINATION)] == [
        "f39ab143-d91a-474a-b69f-b00f1a1873c2"]
    assert parse_announcements(BODY, "7c1e9a40-2d5b-4f83-b6e2-0a9d4c3f1e22") == []
    with pytest.raises(CallbackRejected):
        parse_announcements(b'{"type": "other"}', DEMO_DESTINATION)


def test_a_replay_to_another_process_is_refused_by_the_shared_state() -> None:
    clock = Clock()
    shared = testing.MemoryStateStore(clock)
    first, second = (CallbackAuthenticator(OPTIONS, shared, clock) for _ in range(2))
    first.check(DEMO_DESTINATION, *signed(NOW), BODY)
    with pytest.raises(CallbackRejected, match="replayed"):
        second.check(DEMO_DESTINATION, *signed(NOW), BODY)  # its own memory has never seen it
    with pytest.raises(CallbackRejected, match="replayed"):
        second.check(DEMO_DESTINATION, *signed(NOW), BODY)  # now also refused from its memory
    # the shared entry outlives the acceptance window (age + skew + drift margin), then goes
    assert shared.get(REPLAY_NAMESPACE, callback_signature(DEMO_CALLBACK_SECRET, str(NOW), BODY)) is not None
    clock.now += 300 + 30 + 61
    assert shared.get(REPLAY_NAMESPACE, callback_signature(DEMO_CALLBACK_SECRET, str(NOW), BODY)) is None


def test_the_shared_check_decides_even_when_the_local_memory_is_empty() -> None:
    clock = Clock()
    shared = testing.MemoryStateStore(clock)
    shared.add(REPLAY_NAMESPACE, callback_signature(DEMO_CALLBACK_SECRET, str(NOW), BODY), {}, ttl_seconds=400)
    with pytest.raises(CallbackRejected, match="replayed"):
        CallbackAuthenticator(OPTIONS, shared, clock).check(DEMO_DESTINATION, *signed(NOW), BODY)


def test_unauthentic_callbacks_never_reach_the_shared_state() -> None:
    clock = Clock()
    shared = testing.MemoryStateStore(clock)
    checker = CallbackAuthenticator(OPTIONS, shared, clock)
    for stamp, signature in (signed(NOW, secret="x" * 40), signed(NOW - 301), signed(NOW + 31)):
        with pytest.raises(CallbackRejected):
            checker.check(DEMO_DESTINATION, stamp, signature, BODY)
    assert shared.items == {}


def test_announced_ids_must_be_uuids() -> None:
    body = (b'{"type":"' + CALLBACK_TYPE.encode() + b'","submissions":[{"destinationId":"'
            + DEMO_DESTINATION.encode() + b'","submissionId":"../../v1/destinations","caseId":"x"},'
            + b'{"destinationId":"' + DEMO_DESTINATION.encode()
            + b'","submissionId":"f39ab143-d91a-474a-b69f-b00f1a1873c2","caseId":"../x"}]}')
    assert parse_announcements(body, DEMO_DESTINATION) == [
        {"submissionId": "f39ab143-d91a-474a-b69f-b00f1a1873c2", "caseId": ""}]


class BrokenState(testing.MemoryStateStore):
    def add(self, namespace: str, key: str, value: dict[str, object], ttl_seconds: float | None = None) -> bool:
        raise ConnectionError("database unreachable")


@contextmanager
def client(state: testing.MemoryStateStore, received: list[str]) -> Iterator[httpx.Client]:
    app = FastAPI()
    app.include_router(callback_router(CallbackAuthenticator(OPTIONS, state),
                                       lambda destination, submission, case: received.append(submission)))
    with serve_app(app) as url, httpx.Client(base_url=url) as http:
        yield http


PATH = f"/v1/channels/fitconnect/callbacks/{DEMO_DESTINATION}"


def test_the_route_takes_an_authentic_callback_once() -> None:
    received: list[str] = []
    stamp, signature = signed(int(time.time()))
    headers = {"callback-timestamp": stamp, "callback-authentication": signature}
    with client(testing.MemoryStateStore(), received) as http:
        assert http.post(PATH, content=BODY, headers=headers).json() == {"announced": 1, "recorded": 1}
        replay = http.post(PATH, content=BODY, headers=headers)
    assert replay.status_code == 401 and replay.json()["detail"] == REFUSED
    assert received == ["f39ab143-d91a-474a-b69f-b00f1a1873c2"]


def test_oversized_bodies_are_refused_unread() -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap applies while reading
        for _ in range(MAX_BODY // 65536 + 2):
            yield b" " * 65536

    with client(testing.MemoryStateStore(), []) as http:
        assert http.post(PATH, content=chunks()).status_code == 413
        assert http.post(PATH, content=b" " * (MAX_BODY + 1)).status_code == 413


def test_an_announcement_that_cannot_be_recorded_is_not_answered_200() -> None:
    """The 2xx tells the Zustelldienst the announcement is taken: only after it is recorded."""
    def broken(destination: str, submission: str, case: str) -> None:
        raise ConnectionError("database unreachable")

    app = FastAPI()
    app.include_router(callback_router(CallbackAuthenticator(OPTIONS, testing.MemoryStateStore()), broken))
    stamp, signature = signed(int(time.time()))
    with serve_app(app) as url, httpx.Client(base_url=url) as http:
        response = http.post(PATH, content=BODY, headers={"callback-timestamp": stamp,
                                                          "callback-authentication": signature})
    assert response.status_code == 503 and "database" not in response.text


def test_no_shared_state_no_callback_but_no_crash_either() -> None:
    stamp, signature = signed(int(time.time()))
    with client(BrokenState(), []) as http:
        response = http.post(PATH, content=BODY, headers={"callback-timestamp": stamp,
                                                          "callback-authentication": signature})
    assert response.status_code == 503 and "database" not in response.text


def test_destination_ids_cannot_be_enumerated(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unknown destination and a known one with a bad signature get the same answer, and
    both are decided by a constant-time HMAC comparison, never by the destination look-up."""
    compared: list[int] = []
    real_compare = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        compared.append(len(a))
        return real_compare(a, b)

    monkeypatch.setattr("adapters.fitconnect.callback.hmac.compare_digest", counting)
    stamp = str(int(time.time()))
    forged = {"callback-timestamp": stamp, "callback-authentication": "ab" * 64}
    with client(testing.MemoryStateStore(), []) as http:
        known = http.post(PATH, content=BODY, headers=forged)
        unknown = http.post("/v1/channels/fitconnect/callbacks/00000000-0000-4000-8000-000000000000",
                            content=BODY, headers=forged)
        unsigned = http.post("/v1/channels/fitconnect/callbacks/not-even-a-uuid", content=BODY)
    assert known.status_code == unknown.status_code == unsigned.status_code == 401
    assert known.content == unknown.content == unsigned.content
    assert compared == [128, 128, 128]  # a SHA-512 hex HMAC compared in every case

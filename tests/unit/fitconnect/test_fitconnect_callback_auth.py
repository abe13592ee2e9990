"""Callback authentication: HMAC-SHA512 over "timestamp.body", age, skew, replays."""

from __future__ import annotations

import pytest

from adapters.fitconnect import testing
from adapters.fitconnect.callback import (
    CALLBACK_TYPE,
    CallbackAuthenticator,
    CallbackRejected,
    callback_signature,
    parse_announcements,
)
from adapters.fitconnect.plugin import parse_options
from adapters.fitconnect.sandbox.config import DEMO_CALLBACK_SECRET, DEMO_DESTINATION

NOW = 1_800_000_000
BODY = (b'{"type":"' + CALLBACK_TYPE.encode() + b'","submissions":[{"destinationId":"' + DEMO_DESTINATION.encode()
        + b'","submissionId":"f39ab143-d91a-474a-b69f-b00f1a1873c2","caseId":"9eec7d3e-dc66-4f82-9f52-1520bf96a32e"}]}')


class Clock:
    def __init__(self) -> None:
        self.now = float(NOW)

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def auth(tmp_path: object) -> tuple[CallbackAuthenticator, Clock]:
    clock = Clock()
    options = parse_options(testing.gateway_options("http://sandbox.invalid", testing.REPO / "unused.json"))
    return CallbackAuthenticator(options, clock), clock


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
    with pytest.raises(CallbackRejected, match="headers"):
        checker.check(DEMO_DESTINATION, None, signature, BODY)


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

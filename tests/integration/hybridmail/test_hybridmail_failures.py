"""Failure modes of the E-POST sandbox and how the adapter reports them (test_failure_modes)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from adapters.hybridmail import testing
from adapters.hybridmail.errors import EPostAccountUnusable, EPostUnavailable
from adapters.hybridmail.sandbox.config import SandboxConfig
from adapters.hybridmail.sender import LetterJob
from adapters.hybridmail.status import DeliveryState
from gateway.errors import TransientError
from tests.integration.hybridmail.conftest import Shop

ERIKA_LINES = testing.ERIKA.printed_lines()


def letter(shop: Shop, reply_id: str = "f-1") -> LetterJob:
    return LetterJob(reply_id, "TGH-2026-000123", "Bescheid",
                     testing.letter_pdf(shop.tmp / f"{reply_id}.pdf", ERIKA_LINES), testing.ERIKA)


def fault(shop: Shop, **spec: object) -> None:
    httpx.post(shop.url + "/sandbox/faults", json=spec, timeout=5).raise_for_status()


def test_a_500_is_transient_and_the_next_try_goes_through(shop: Shop) -> None:
    fault(shop, path="/api/Letter", method="POST", status=500)
    sender = shop.sender()
    with pytest.raises(EPostUnavailable, match="HTTP 500") as caught:
        sender.send(letter(shop), check_existing=False)
    assert isinstance(caught.value, TransientError) and shop.state.letters == {}
    assert sender.send(letter(shop)).state == DeliveryState.SENT


def test_a_hanging_api_times_out(shop: Shop) -> None:
    fault(shop, path="/api/Letter", delay_seconds=3)
    with pytest.raises(EPostUnavailable, match="in time"):
        shop.sender(timeout_seconds=0.5).send(letter(shop))


def test_an_expired_token_is_renewed_on_the_fly(shop: Shop) -> None:
    sender = shop.sender()
    first = sender.send(letter(shop, "f-1"))
    shop.state.expire_tokens()
    assert sender.follow([first.letter_id])[0].letter_id == first.letter_id


def test_wrong_credentials_and_the_lockout(shop: Shop) -> None:
    bad = shop.sender(password="wrong-password")
    for _ in range(shop.state.config.max_failed_logins):
        with pytest.raises(EPostAccountUnusable):
            bad.client.login()
    with pytest.raises(EPostUnavailable, match="HTTP 429"):
        shop.sender().client.login()  # locked for everyone on this EKP for a while


class TestAShopThatWatchesPolling:
    @pytest.fixture
    def shop_config(self) -> SandboxConfig:
        return SandboxConfig(step_seconds=0.4, min_poll_interval_seconds=30)

    def test_polling_too_often_is_answered_429(self, shop: Shop) -> None:
        sender = shop.sender()
        delivery = sender.send(letter(shop), check_existing=False)
        sender.follow([delivery.letter_id])
        with pytest.raises(EPostUnavailable, match="polled too often") as caught:
            sender.follow([delivery.letter_id])
        assert caught.value.extensions["retry_after"] == 30.0


def test_a_letter_the_print_centre_fails_ends_failed_with_its_code(shop: Shop, tmp_path: Path) -> None:
    sender = shop.sender(min_status_interval_seconds=0)
    delivery = sender.send(letter(shop), check_existing=False)
    assert httpx.post(f"{shop.url}/sandbox/letters/{delivery.letter_id}/fail", timeout=5).status_code == 204
    [state] = sender.follow([delivery.letter_id])
    assert (state.state, state.final, state.error_codes) == (DeliveryState.FAILED, True, ("E950",))


def test_the_health_check_answers_without_login(shop: Shop) -> None:
    assert httpx.get(shop.url + "/api/Login/HealthCheck", timeout=5).json()["code"] == "I501"
    assert httpx.get(shop.url + "/api/Letter/1", timeout=5).status_code == 401

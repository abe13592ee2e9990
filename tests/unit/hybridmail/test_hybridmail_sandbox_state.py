"""The E-POST sandbox's clockwork: status over time, test flag, failures, tokens, lockout."""

from __future__ import annotations

import hashlib

import pytest

from adapters.hybridmail.sandbox.checks import CheckedLetter, Refused
from adapters.hybridmail.sandbox.config import DEMO_ACCOUNT, SandboxConfig
from adapters.hybridmail.sandbox.state import EPostSandbox

CREDENTIALS = {"vendorID": DEMO_ACCOUNT.vendor_id, "ekp": DEMO_ACCOUNT.ekp, "secret": DEMO_ACCOUNT.secret,
               "password": DEMO_ACCOUNT.password}


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def sandbox(**config: object) -> tuple[EPostSandbox, Clock]:
    clock = Clock()
    return EPostSandbox(SandboxConfig(step_seconds=10, **config), clock=clock), clock  # type: ignore[arg-type]


def checked(name: str, *, test_flag: bool = False, pdf: bytes = b"%PDF-1") -> CheckedLetter:
    return CheckedLetter({"fileName": name, "testFlag": test_flag, "activateDuplicateFailsafe": True}, pdf,
                         hashlib.sha256(pdf).hexdigest(), 1)


@pytest.mark.parametrize(("test_flag", "expected"), [(False, [1, 1, 2, 3, 4, 4]), (True, [1, 1, 2, 2, 2, 2])])
def test_the_status_advances_one_step_per_interval(test_flag: bool, expected: list[int]) -> None:
    state, clock = sandbox()
    [result] = state.accept(DEMO_ACCOUNT, [checked("rg-a.pdf", test_flag=test_flag)])
    letter = state.letters[result["letterID"]]
    seen = []
    for t in (0, 9.9, 10, 20, 30, 500):
        clock.now = t
        seen.append(state.status(letter)["statusID"])
    assert seen == expected
    assert state.status(letter)["printFeedbackDate"] is not None or test_flag


def test_a_failed_letter_reports_99_with_an_error() -> None:
    state, _ = sandbox()
    [result] = state.accept(DEMO_ACCOUNT, [checked("rg-a.pdf")])
    assert state.fail(result["letterID"]) and not state.fail(123)
    status = state.status(state.letters[result["letterID"]])
    assert status["statusID"] == 99 and status["errorList"][0]["code"] == "E950"


def test_a_bulk_is_stored_whole_or_not_at_all() -> None:
    state, _ = sandbox()
    state.accept(DEMO_ACCOUNT, [checked("rg-a.pdf")])
    with pytest.raises(Refused) as caught:
        state.accept(DEMO_ACCOUNT, [checked("rg-b.pdf", pdf=b"%PDF-2"), checked("rg-a.pdf", pdf=b"%PDF-3")])
    assert caught.value.code == "E903" and len(state.letters) == 1
    with pytest.raises(Refused) as duplicate:
        state.accept(DEMO_ACCOUNT, [checked("rg-c.pdf")])  # the same PDF as rg-a.pdf within the hour
    assert duplicate.value.code == "E324"


def test_tokens_expire_and_logins_lock_out() -> None:
    state, clock = sandbox(max_failed_logins=2, lockout_seconds=60)
    token = state.login({**CREDENTIALS, "tokenDuration": 1})
    assert state.account(f"Bearer {token}") == DEMO_ACCOUNT
    clock.now = 61
    with pytest.raises(Refused, match="expired"):
        state.account(f"Bearer {token}")
    for _ in range(2):
        with pytest.raises(Refused, match="login failed"):
            state.login({**CREDENTIALS, "password": "nope"})
    with pytest.raises(Refused, match="too many failed logins"):
        state.login(CREDENTIALS)
    clock.now = 200
    assert state.login(CREDENTIALS)

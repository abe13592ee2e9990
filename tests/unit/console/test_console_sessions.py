"""Console sessions: idle timeout, maximum age, accounts removed from configuration, hashed ids."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config import ConsoleAccount, ConsoleSettings, Settings
from gateway.console.auth import NAMESPACE, ConsoleAuth, tokens_match
from tests.conftest import TENANT, secret_hash


class MemoryState:
    """The StateStore port in memory (expiry is the auth's own clock check here)."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str], dict[str, Any]] = {}
        self.puts = 0

    def get(self, namespace: str, key: str) -> dict[str, Any] | None:
        return self.values.get((namespace, key))

    def put(self, namespace: str, key: str, value: dict[str, Any], ttl_seconds: float | None = None) -> None:
        self.puts += 1
        self.values[(namespace, key)] = value

    def add(self, namespace: str, key: str, value: dict[str, Any], ttl_seconds: float | None = None) -> bool:
        return self.values.setdefault((namespace, key), value) is value

    def scan(self, namespace: str, prefix: str) -> list[tuple[str, dict[str, Any]]]:
        return [(k, v) for (n, k), v in self.values.items() if n == namespace and k.startswith(prefix)]

    def delete(self, namespace: str, key: str) -> None:
        self.values.pop((namespace, key), None)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


ACCOUNT = ConsoleAccount(username="leitung", password_hash=secret_hash("richtig-geheim"), tenants=[TENANT],
                         may_view_originals=True)


def _auth(**settings: Any) -> tuple[ConsoleAuth, MemoryState, Clock]:
    state, clock = MemoryState(), Clock()
    values: dict[str, Any] = {"accounts": [ACCOUNT], "idle_timeout_seconds": 900, "max_session_seconds": 3600}
    values.update(settings)
    return ConsoleAuth(ConsoleSettings(**values), state, clock), state, clock


def test_the_store_keeps_a_hash_of_the_session_id_not_the_id() -> None:
    auth, state, _ = _auth()
    session = auth.start(ACCOUNT)
    [(namespace, key)] = state.values
    assert namespace == NAMESPACE and session not in key and len(key) == 64
    admin = auth.admin(session)
    assert admin is not None and admin.username == "leitung" and admin.tenants == (TENANT,)
    assert admin.may_view_originals and admin.csrf and admin.actor == "console:leitung"


def test_a_session_ends_after_the_idle_timeout_and_lives_while_used() -> None:
    auth, _, clock = _auth()
    session = auth.start(ACCOUNT)
    for _ in range(3):  # 3 x 800 s: longer than the idle timeout in total, never idle that long
        clock.now += 800
        assert auth.admin(session) is not None
    clock.now += 901
    assert auth.admin(session) is None
    assert auth.admin(session) is None  # and it is gone for good


def test_a_session_ends_at_its_maximum_age_however_busy() -> None:
    auth, _, clock = _auth()
    session = auth.start(ACCOUNT)
    for _ in range(7):
        clock.now += 500
        assert auth.admin(session) is not None
    clock.now += 200  # 3,700 s after the login
    assert auth.admin(session) is None


def test_the_idle_timer_is_written_back_at_most_every_half_minute() -> None:
    auth, state, clock = _auth()
    session = auth.start(ACCOUNT)
    before = state.puts
    for _ in range(10):
        clock.now += 1
        auth.admin(session)
    assert state.puts == before


def test_an_account_removed_from_configuration_loses_its_sessions() -> None:
    auth, state, _ = _auth()
    session = auth.start(ACCOUNT)
    without = ConsoleAuth(ConsoleSettings(accounts=[]), state)
    assert without.admin(session) is None


def test_passwords_are_checked_against_the_argon2id_hash() -> None:
    auth, _, _ = _auth()
    assert auth.check_password("leitung", "richtig-geheim") == ACCOUNT
    assert auth.check_password("leitung", "falsch") is None
    assert auth.check_password("niemand", "richtig-geheim") is None
    assert auth.check_password("leitung", "x" * 5000) is None


def test_tokens_are_compared_whole_and_an_empty_one_never_matches() -> None:
    assert tokens_match("abc", "abc") and not tokens_match("abc", "abd") and not tokens_match("", "")


def test_accounts_need_a_strong_hash_tenants_and_unique_names() -> None:
    with pytest.raises(ValueError, match="argon2"):
        ConsoleAccount(username="leitung", password_hash="geheim", tenants=[TENANT])
    with pytest.raises(ValueError, match="tenants"):
        ConsoleAccount(username="leitung", password_hash=secret_hash("x"), tenants=[])
    with pytest.raises(ValueError, match="twice"):
        ConsoleSettings(accounts=[ACCOUNT, ACCOUNT])


def test_the_demo_password_is_refused_outside_the_demo(tmp_path: Any) -> None:
    demo = ConsoleAccount(username="demo-admin", password_hash=secret_hash("demo-console-password"), tenants=[TENANT])
    with pytest.raises(ValueError, match="demo password"):
        Settings(data_dir=tmp_path, console=ConsoleSettings(accounts=[demo]))
    assert Settings(data_dir=tmp_path, demo=True, console=ConsoleSettings(accounts=[demo])).console.accounts

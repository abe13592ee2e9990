"""Scale-out tests: skipped with the reason locally without services, a failure with CI=true."""

from __future__ import annotations

import pytest

from tests.conftest import _service_missing


def test_missing_service_is_a_skip_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="Redis at redis://x is not reachable"):
        _service_missing("Redis at redis://x is not reachable")


def test_missing_service_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true and PostgreSQL"):
        _service_missing("PostgreSQL at x is not reachable")

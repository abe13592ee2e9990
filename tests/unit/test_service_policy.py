"""Scale-out tests without their services: a failure that says what is missing, never a skip."""

from __future__ import annotations

import pytest

from tests.conftest import _service_missing


@pytest.mark.parametrize("ci", [None, "true"])
def test_missing_service_fails_with_the_reason(monkeypatch: pytest.MonkeyPatch, ci: str | None) -> None:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match=r"PostgreSQL at x is not reachable; .*Redis on 127\.0\.0\.1:6379"):
        _service_missing("PostgreSQL at x is not reachable")

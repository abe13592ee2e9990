"""The e-mail and hybrid-mail sandboxes start the way `make run` starts them: a zero-argument
factory from the entry point, set up from the environment of fixtures/demo/stack.yaml."""

from __future__ import annotations

import smtplib
import ssl

import httpx
import pytest

from adapters.email import testing
from gateway.plugins import SANDBOX_GROUP, available, sandbox_factory
from gateway.yamlfile import load_yaml
from tests.conftest import REPO
from tests.support.servers import free_port, serve_app


def test_both_sandboxes_are_registered_with_ports_for_make_run() -> None:
    assert {"email", "hybridmail"} <= set(available(SANDBOX_GROUP))
    stack = load_yaml(REPO / "fixtures" / "demo" / "stack.yaml").data["sandboxes"]
    ports = [int(s["port"]) for s in stack.values()] + [int(stack["email"]["env"]["EMAIL_SANDBOX_SMTP_PORT"])]
    assert len(ports) == len(set(ports))


def test_the_smtp_listener_starts_with_the_app_on_the_configured_loopback_port(
        monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    monkeypatch.setenv("EMAIL_SANDBOX_SMTP_PORT", str(port))
    app = sandbox_factory("email")()
    with pytest.raises(OSError):
        smtplib.SMTP("127.0.0.1", port, timeout=1)  # nothing listens before the app's lifespan
    with serve_app(app) as url:
        assert httpx.get(url + "/healthz", timeout=5).json() == {"smtp": f"127.0.0.1:{port}"}
        with smtplib.SMTP("127.0.0.1", port, timeout=5) as smtp:
            smtp.ehlo()
            assert smtp.has_extn("starttls")
            smtp.starttls(context=ssl.create_default_context(cafile=str(testing.TEST_CA)))
            smtp.ehlo()
            assert smtp.noop()[0] == 250
    with pytest.raises(OSError):
        smtplib.SMTP("127.0.0.1", port, timeout=1)  # and stops with it


def test_the_smtp_sandbox_binds_loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMAIL_SANDBOX_SMTP_HOST", "0.0.0.0")  # noqa: S104 - the value under test
    with pytest.raises(ValueError, match="loopback"):
        sandbox_factory("email")()


def test_the_hybridmail_sandbox_reads_its_step_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EPOST_SANDBOX_STEP_SECONDS", "7")
    with serve_app(sandbox_factory("hybridmail")(), health_path="/healthz") as url:
        assert "every 7 s" in httpx.get(url + "/", timeout=5).text

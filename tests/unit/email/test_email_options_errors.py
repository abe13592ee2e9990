"""Options refuse insecure set-ups; SMTP reply codes map onto the gateway's error classes."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from adapters.email import testing
from adapters.email.errors import MailRejected, MailRelayUnavailable, MailRelayUnusable, error_for_reply
from gateway.errors import PermanentError, TransientError, UpstreamUnavailable


@pytest.mark.parametrize(("relay", "message"), [
    ({"host": "smtp.example.de", "tls": "none-test-only"}, "loopback relay only"),
    ({"host": "127.0.0.1", "tls": "none-test-only", "username": "u", "password": "p"}, "never sent without TLS"),
    ({"host": "smtp.example.de", "username": "u"}, "go together"),
])
def test_insecure_relay_settings_are_refused(relay: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        testing.options(25, auth=False, relay=relay)


def test_plain_smtp_to_loopback_is_possible_for_tests_only() -> None:
    options = testing.options(25, auth=False, relay={"host": "127.0.0.1", "port": 2525, "tls": "none-test-only"})
    assert options.relay.tls == "none-test-only"


@pytest.mark.parametrize(("code", "cls", "kind"), [
    (421, MailRelayUnavailable, TransientError), (450, MailRelayUnavailable, TransientError),
    (452, MailRelayUnavailable, TransientError), (550, MailRejected, PermanentError),
    (552, MailRejected, PermanentError), (554, MailRejected, PermanentError),
    (530, MailRelayUnusable, TransientError), (535, MailRelayUnusable, TransientError),
    (354, MailRelayUnavailable, TransientError),
])
def test_reply_codes_map_onto_the_gateway_classes(code: int, cls: type[Exception], kind: type[Exception]) -> None:
    error = error_for_reply("RCPT", code)
    assert type(error) is cls and isinstance(error, kind)
    assert error.detail.startswith(f"relay answered {code} to RCPT") or "unexpected" in error.detail
    assert error.to_problem()["smtp_code"] == code


def test_a_deferral_is_an_upstream_outage() -> None:
    assert isinstance(error_for_reply("DATA", 451), UpstreamUnavailable)

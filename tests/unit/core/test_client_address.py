"""The key a client is counted by in the throttles (token endpoint, console login, SAML login)."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from gateway.api.throttle import client_address


def _request(host: str | None) -> Request:
    scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "client": (host, 1234) if host else None}
    return Request(scope)


@pytest.mark.parametrize(("host", "key"), [
    ("192.0.2.7", "192.0.2.7"),
    ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
    ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
    ("::ffff:192.0.2.7", "192.0.2.7"),
    ("testclient", "testclient"),
    (None, "unknown"),
])
def test_a_client_is_counted_by_its_address_and_an_ipv6_host_by_its_64(host: str | None, key: str) -> None:
    assert client_address(_request(host)) == key


def test_two_addresses_of_one_ipv6_64_are_one_client_and_another_64_is_not() -> None:
    one = client_address(_request("2001:db8:0:1::a"))
    assert client_address(_request("2001:db8:0:1:ffff::b")) == one
    assert client_address(_request("2001:db8:0:2::a")) != one

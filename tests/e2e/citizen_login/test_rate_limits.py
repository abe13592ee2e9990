"""Rate limit and lockout of the SAML endpoints over HTTP (gateway and sandbox identity provider
on loopback ports, one gateway per test: the counters are per address, and every request here
comes from 127.0.0.1): logins pass until the address's rate, then 429; forged answers to the ACS
lock the address out, even for a genuine answer."""

from __future__ import annotations

import base64
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
from lxml import etree

from adapters.citizen_login import ns
from gateway import safexml
from tests.e2e.citizen_login.conftest import Stack, form_of, running_stack
from tests.e2e.conftest import PROBLEM_JSON, problem_type

CHOICE = {"action": "login", "account": "erika", "level": "STORK-QAA-Level-3"}


def start(stack: Stack, browser: httpx.Client) -> httpx.Response:
    return browser.get(f"{stack.gateway_url}/v1/citizen/login/150905350535/sandbox",
                       params={"level": "substantiell", "return_to": f"{stack.sandbox_url}/portal/callback"})


def idp_answer(stack: Stack, browser: httpx.Client) -> tuple[str, dict[str, str]]:
    """Starts a login and lets the sandbox identity provider answer it: the ACS form, not yet posted."""
    started = start(stack, browser)
    assert started.status_code == 200, started.text
    action, fields = form_of(started.text)
    page = browser.post(action, data=fields)
    action, fields = form_of(page.text)
    answer = browser.post(action, data={**fields, **CHOICE})
    return form_of(answer.text)


def logged_in(stack: Stack, acs: httpx.Response) -> bool:
    assert acs.status_code == 303, acs.text
    code = parse_qs(urlsplit(acs.headers["location"]).query)["code"][0]
    session = httpx.post(f"{stack.gateway_url}/v1/citizen/sessions", json={"code": code},
                         headers={"Authorization": f"Bearer {stack.token()}"})
    return session.status_code == 201 and session.json()["identity"]["pseudonym"] == "SANDBOX-BPK2-ERIKA-0001"


def assert_too_many(response: httpx.Response, at_most: int) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["type"] == problem_type("too-many-requests")
    assert 0 < int(response.headers["retry-after"]) <= at_most


def with_forged_ciphertext(saml_response: str) -> str:
    """The identity provider's answer with the encrypted assertion's content replaced."""
    root = safexml.parse(base64.b64decode(saml_response))
    cipher = root.find(f".//{ns.q(ns.SAML, 'EncryptedAssertion')}/{ns.q(ns.XENC, 'EncryptedData')}"
                       f"/{ns.q(ns.XENC, 'CipherData')}/{ns.q(ns.XENC, 'CipherValue')}")
    assert cipher is not None
    cipher.text = base64.b64encode(b"\x00" * 64).decode()
    return base64.b64encode(etree.tostring(root)).decode()


def test_logins_pass_until_the_address_rate_then_429(tmp_path: Path) -> None:
    with running_stack(tmp_path, rate_limits={"requests_per_minute": 6}) as stack, \
            httpx.Client(timeout=30) as browser:
        for _ in range(3):  # a start and an ACS post each: six requests
            action, fields = idp_answer(stack, browser)
            assert logged_in(stack, browser.post(action, data=fields))
        assert_too_many(start(stack, browser), at_most=60)


def test_forged_answers_lock_the_address_out(tmp_path: Path) -> None:
    with running_stack(tmp_path, rate_limits={"max_failures": 3, "lockout_seconds": 120}) as stack, \
            httpx.Client(timeout=30) as browser:
        action, used = idp_answer(stack, browser)
        assert logged_in(stack, browser.post(action, data=used))  # before any failure: a normal login
        replayed = browser.post(action, data=used)
        assert replayed.status_code == 403 and replayed.json()["check"] == "in-response-to"
        _, fields = idp_answer(stack, browser)
        tampered = browser.post(action, data={**fields, "SAMLResponse": with_forged_ciphertext(fields["SAMLResponse"])})
        assert tampered.status_code == 403 and tampered.json()["check"] == "decryption"
        _, genuine = idp_answer(stack, browser)  # started before the lockout, answered by the identity provider
        unsolicited = browser.post(action, data={**genuine, "RelayState": "a-relay-state-no-login-has"})
        assert unsolicited.status_code == 403 and unsolicited.json()["check"] == "in-response-to"
        assert_too_many(browser.post(action, data=genuine), at_most=120)
        assert_too_many(start(stack, browser), at_most=120)

"""The login over HTTP as a browser would make it (scripted): portal -> gateway -> sandbox
identity provider -> gateway ACS -> portal, then the session API."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

from adapters.citizen_login import ns
from gateway import safexml
from tests.e2e.citizen_login.conftest import Stack, form_of


def login(stack: Stack, level: str, choice: dict[str, str]) -> httpx.Response:
    """Runs the browser's part of a login; returns the ACS answer (a redirect to the portal)."""
    with httpx.Client(timeout=30) as browser:
        start = browser.get(f"{stack.gateway_url}/v1/citizen/login/150905350535/sandbox",
                            params={"level": level, "return_to": f"{stack.sandbox_url}/portal/callback"})
        assert start.status_code == 200, start.text
        action, fields = form_of(start.text)
        page = browser.post(action, data=fields)
        assert page.status_code == 200, page.text
        action, fields = form_of(page.text)
        answer = browser.post(action, data={**fields, **choice})
        action, fields = form_of(answer.text)
        return browser.post(action, data=fields)


def exchange(stack: Stack, acs: httpx.Response) -> httpx.Response:
    assert acs.status_code == 303, acs.text
    location = acs.headers["location"]
    assert location.startswith(f"{stack.sandbox_url}/portal/callback?code=")
    code = parse_qs(urlsplit(location).query)["code"][0]
    return httpx.post(f"{stack.gateway_url}/v1/citizen/sessions", json={"code": code},
                      headers={"Authorization": f"Bearer {stack.token()}"})


def test_sp_metadata_is_published_as_registered(stack: Stack) -> None:
    response = httpx.get(f"{stack.gateway_url}/v1/citizen/saml/150905350535/sandbox/metadata")
    assert response.status_code == 200
    root = safexml.parse(response.content)
    assert root.get("entityID") == "https://rathaus-gateway.sandbox.invalid/saml/tangerhuette/sandbox"
    assert root.get("validUntil") is None and root.get("ID") is None
    uses = [k.get("use") for k in root.iter(ns.q(ns.MD, "KeyDescriptor"))]
    assert uses == ["signing", "signing", "encryption", "encryption"]  # two of each: a rollover


def test_login_gives_a_session_with_the_identity(stack: Stack) -> None:
    acs = login(stack, "substantiell", {"action": "login", "account": "erika", "level": "STORK-QAA-Level-3"})
    session = exchange(stack, acs)
    assert session.status_code == 201, session.text
    body = session.json()
    assert body["identity"]["pseudonym"] == "SANDBOX-BPK2-ERIKA-0001"
    assert body["identity"]["trust_level"] == "substantiell"
    assert body["identity"]["proved_by"] == "Elster"
    # names and addresses reach the portal once, with the code exchange; the token holds none
    attributes = body["identity"]["attributes"]
    assert (attributes["given_name"], attributes["family_name"]) == ("Erika", "Mustermann")
    assert attributes["postal_code"] == "39517"
    current = httpx.get(f"{stack.gateway_url}/v1/citizen/session", headers={
        "Authorization": f"Bearer {stack.token()}", "Citizen-Session": body["session_token"]})
    assert current.status_code == 200 and current.json()["identity"]["trust_level"] == "substantiell"


def test_the_login_code_works_once(stack: Stack) -> None:
    acs = login(stack, "niedrig", {"action": "login", "account": "juergen", "level": "STORK-QAA-Level-1"})
    assert exchange(stack, acs).status_code == 201
    again = exchange(stack, acs)
    assert again.status_code == 422 and again.headers["content-type"] == "application/problem+json"


def test_a_refusal_comes_back_as_a_problem_naming_the_level(stack: Stack) -> None:
    acs = login(stack, "hoch", {"action": "refuse-level", "account": "erika", "level": "STORK-QAA-Level-4"})
    problem = exchange(stack, acs)
    assert problem.status_code == 403
    body = problem.json()
    assert body["type"].endswith("/login-refused") and body["required"] == "hoch"
    assert "NoAuthnContext" in body["sub_status_code"]
    assert "nicht erreicht" in body["status_detail"]
    assert "level=hoch" in body["login_url"]


def test_logout_ends_the_session_and_starts_single_logout(stack: Stack) -> None:
    acs = login(stack, "niedrig", {"action": "login", "account": "erika", "level": "STORK-QAA-Level-1"})
    token = exchange(stack, acs).json()["session_token"]
    headers = {"Authorization": f"Bearer {stack.token()}", "Citizen-Session": token}
    out = httpx.post(f"{stack.gateway_url}/v1/citizen/logout", json={"return_to": f"{stack.sandbox_url}/portal/"},
                     headers=headers)
    assert out.status_code == 200, out.text
    slo_url = out.json()["single_logout_url"]
    assert slo_url.startswith(f"{stack.sandbox_url}/idp/slo?SAMLRequest=")
    after = httpx.get(f"{stack.gateway_url}/v1/citizen/session", headers=headers)
    assert after.status_code == 401
    with httpx.Client(timeout=30) as browser:
        idp = browser.get(slo_url)
        assert idp.status_code == 303
        back = browser.get(idp.headers["location"])
        assert back.status_code == 303 and back.headers["location"] == f"{stack.sandbox_url}/portal/"


def test_a_forged_acs_post_is_refused(stack: Stack) -> None:
    response = httpx.post(f"{stack.gateway_url}/v1/citizen/saml/150905350535/sandbox/acs",
                          data={"SAMLResponse": "PHg+PC94Pg==", "RelayState": "https://evil.example/"})
    assert response.status_code == 403
    assert response.json()["check"] == "in-response-to"

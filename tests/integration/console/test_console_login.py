"""Console login: argon2id accounts, throttle and lockout, server-side sessions, cookies, headers."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.bootstrap import Gateway
from tests.conftest import make_settings
from tests.integration.console.conftest import ConsoleClient, console_settings, form_with_action, text_of


def test_pages_need_a_login(console: ConsoleClient) -> None:
    for path in ("/console/", "/console/faelle", "/console/quarantaene", "/console/katalog", "/console/ereignisse",
                 "/console/antworten", "/console/eingang/00000000-0000-0000-0000-000000000000"):
        response = console.http.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/console/anmelden", path


def test_the_login_form_has_labelled_fields(console: ConsoleClient) -> None:
    page = console.http.get("/console/anmelden")
    assert page.status_code == 200 and '<html lang="de">' in page.text
    assert '<label for="benutzername">Benutzername</label>' in page.text
    assert '<label for="passwort">Passwort</label>' in page.text
    assert form_with_action(page.text, "/console/anmelden")["fields"]["login_token"]


def test_a_right_password_opens_a_session_with_a_strict_cookie(console: ConsoleClient) -> None:
    response = console.login("leitung")
    assert response.status_code == 303 and response.headers["location"] == "/console/"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("rg_console="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain http here; see the https test
    overview = console.http.get("/console/")
    assert overview.status_code == 200 and "Angemeldet als" in overview.text and "leitung" in overview.text
    assert len(console.audit("console.login")) == 1


def test_console_pages_carry_the_security_headers(console: ConsoleClient) -> None:
    console.login("leitung")
    for path in ("/console/", "/console/anmelden", "/console/static/console.css", "/console/faelle?von=kaputt"):
        response = console.http.get(path)
        csp = response.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src" not in csp and "frame-ancestors 'none'" in csp, path
        assert response.headers["cache-control"] == "no-store", path
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["referrer-policy"] in ("same-origin", "no-referrer"), path


def test_a_wrong_password_is_refused_and_audited_without_the_typed_name(console: ConsoleClient) -> None:
    wrong = console.login("leitung", "falsch")
    assert wrong.status_code == 401 and "Benutzername oder Passwort ist falsch" in wrong.text
    unknown = console.login("mein-geheimes-passwort", "x")
    assert unknown.status_code == 401
    failures = console.audit("console.login_failed")
    assert [(f["actor"], f["details"]) for f in failures] == [
        ("console:leitung", {"known_account": True}), ("console:unknown", {"known_account": False})]
    assert "mein-geheimes-passwort" not in str(failures)
    assert console.http.get("/console/", follow_redirects=False).status_code == 303


def test_repeated_failures_lock_the_account_out_even_for_the_right_password(console: ConsoleClient) -> None:
    for _ in range(3):
        assert console.login("sachbearbeitung", "geraten").status_code == 401
    locked = console.login("sachbearbeitung")
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    assert "Zu viele Anmeldeversuche" in locked.text
    assert console.http.get("/console/", follow_redirects=False).status_code == 303
    # the lockout is the account's: another admin from elsewhere is not locked
    assert console.login("leitung").status_code == 303


def test_the_login_form_needs_its_own_token(console: ConsoleClient) -> None:
    refused = console.http.post("/console/anmelden", data={"benutzername": "leitung", "passwort": "leitung-passwort-1"},
                                follow_redirects=False)
    assert refused.status_code == 403 and "abgelaufen" in refused.text
    assert console.audit("console.login") == []


def test_logout_ends_the_session_on_the_server(console: ConsoleClient, other_console: ConsoleClient) -> None:
    console.login("leitung")
    session = console.http.cookies.get("rg_console", path="/console")
    assert session
    response = console.http.post("/console/abmelden", data={"csrf": console.csrf()}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/console/anmelden"
    # the old cookie, replayed from another browser, no longer opens anything
    other_console.http.cookies.set("rg_console", session, path="/console")
    assert other_console.http.get("/console/", follow_redirects=False).status_code == 303
    assert len(console.audit("console.logout")) == 1


def test_a_session_id_from_elsewhere_opens_nothing(console: ConsoleClient) -> None:
    console.http.cookies.set("rg_console", "x" * 43, path="/console")
    assert console.http.get("/console/", follow_redirects=False).status_code == 303


def test_over_https_the_cookie_is_secure(console_gateway: Gateway) -> None:
    with TestClient(create_app(console_gateway), base_url="https://testserver") as http:
        client = ConsoleClient(console_gateway, http)
        response = client.login("leitung")
        cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("rg_console="))
        assert "Secure" in cookie
        assert "strict-transport-security" in http.get("/console/").headers


def test_an_installation_without_accounts_says_so(tmp_path: Path) -> None:
    gateway = Gateway.create(make_settings(tmp_path, console=console_settings(accounts=[])))
    try:
        with TestClient(create_app(gateway)) as http:
            assert "noch kein Konsolen-Konto eingerichtet" in text_of(http.get("/console/anmelden").text)
    finally:
        gateway.close()


def test_a_new_login_ends_the_browsers_previous_session(console: ConsoleClient, other_console: ConsoleClient) -> None:
    older_tab = form_with_action(console.http.get("/console/anmelden").text, "/console/anmelden")
    older_cookie = console.http.cookies.get("rg_console_login", path="/console")
    assert console.login("leitung").status_code == 303
    first = console.http.cookies.get("rg_console", path="/console")
    # the login form of an older tab of the same browser is sent after all
    console.http.cookies.set("rg_console_login", older_cookie, path="/console")
    again = console.http.post("/console/anmelden", data={**older_tab["fields"], "benutzername": "sachbearbeitung",
                                                         "passwort": "sachbearbeitung-passwort-2"},
                              follow_redirects=False)
    assert again.status_code == 303 and "sachbearbeitung" in console.http.get("/console/").text
    other_console.http.cookies.set("rg_console", first, path="/console")
    assert other_console.http.get("/console/", follow_redirects=False).status_code == 303

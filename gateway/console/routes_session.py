"""Login and logout. Failed logins are counted per username and per address and lock out as the
token endpoint's do; a locked key is answered without checking the password."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from gateway.api.deps import GatewayDep
from gateway.api.throttle import client_address
from gateway.bootstrap import Gateway
from gateway.console.auth import LOGIN_COOKIE, SESSION_COOKIE, new_token, tokens_match
from gateway.console.deps import AdminDep, Console, ConsoleDep, FormDep, current_admin, require_csrf
from gateway.console.web import PREFIX, LoginRequired, page
from gateway.errors import TooManyRequests, UpstreamUnavailable
from gateway.events import audit

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, path=PREFIX, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")


def _forget(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(name, path=PREFIX, httponly=True, samesite="strict", secure=request.url.scheme == "https")


def _login_form(request: Request, *, status: int = 200, message: str | None = None,
                headers: dict[str, str] | None = None, accounts: bool = True) -> Response:
    token = new_token()
    response = page("anmelden.html", status=status, headers=headers, login_token=token, message=message,
                    accounts=accounts, admin=None, current="anmelden")
    _cookie(response, request, LOGIN_COOKIE, token, 3600)
    return response


async def _signed_in(request: Request) -> bool:
    try:
        await current_admin(request)
    except LoginRequired:
        return False
    return True


@router.get("/anmelden")
async def login_form(request: Request, console: ConsoleDep,
                     signed_in: Annotated[bool, Depends(_signed_in)]) -> Response:
    if signed_in:
        return RedirectResponse(f"{PREFIX}/", status_code=303)
    return _login_form(request, accounts=bool(console.auth.usernames))


def _audit(gateway: Gateway, actor: str, action: str, details: dict[str, object]) -> None:
    with gateway.db.transaction() as uow:
        audit.record(uow.conn, at=gateway.clock(), actor=actor, action=action, details=details)


def _sign_in(gateway: Gateway, console: Console, username: str, password: str, address: str) -> str | None:
    """A new session's id, or None for a wrong username or password (counted, audited). Raises
    TooManyRequests while the username or the address is locked out or over its rate."""
    console.throttle.admit(username, address)
    auth = console.auth
    account = auth.check_password(username, password)
    if account is None:
        console.throttle.failed(username, address)
        known = username in auth.usernames  # a mistyped name may be anything (a password): never recorded
        _audit(gateway, f"console:{username}" if known else "console:unknown", "console.login_failed",
               {"known_account": known})
        return None
    console.throttle.succeeded(username)
    _audit(gateway, f"console:{username}", "console.login", {})
    return auth.start(account)


@router.post("/anmelden")
async def login(request: Request, console: ConsoleDep, gateway: GatewayDep, form: FormDep) -> Response:
    if not tokens_match(request.cookies.get(LOGIN_COOKIE, ""), form.get("login_token", "")):
        return _login_form(request, status=403, message="Das Anmeldeformular war abgelaufen. Bitte erneut anmelden.")
    username, password = form.get("benutzername", "").strip(), form.get("passwort", "")
    address = client_address(request)
    try:
        session_id = await run_in_threadpool(_sign_in, gateway, console, username, password, address)
    except TooManyRequests as exc:
        minutes = max(1, math.ceil(exc.retry_after / 60))
        return _login_form(request, status=429, headers={"Retry-After": str(exc.retry_after)},
                           message=f"Zu viele Anmeldeversuche. Bitte in {minutes} Minute(n) erneut versuchen.")
    except UpstreamUnavailable:
        return _login_form(request, status=503, message="Die Anmeldung ist gerade nicht möglich. Bitte später "
                                                        "erneut versuchen.")
    if session_id is None:
        return _login_form(request, status=401, message="Benutzername oder Passwort ist falsch.")
    previous = request.cookies.get(SESSION_COOKIE, "")
    if previous:  # a login replaces whatever session this browser had: one live session per login
        await run_in_threadpool(console.auth.end_id, previous)
    response = RedirectResponse(f"{PREFIX}/", status_code=303)
    _cookie(response, request, SESSION_COOKIE, session_id, None)
    _forget(response, request, LOGIN_COOKIE)
    return response


@router.post("/abmelden")
def logout(request: Request, admin: AdminDep, console: ConsoleDep, gateway: GatewayDep, form: FormDep) -> Response:
    require_csrf(request, admin, form)
    console.auth.end(admin)
    _audit(gateway, admin.actor, "console.logout", {})
    response = RedirectResponse(f"{PREFIX}/anmelden", status_code=303)
    _forget(response, request, SESSION_COOKIE)
    return response

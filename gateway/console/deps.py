"""What every console route needs: the console's parts, the admin of the request, the form of a
POST, and the CSRF check of every state-changing form."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from gateway.api.throttle import TokenThrottle
from gateway.console.auth import SESSION_COOKIE, Admin, ConsoleAuth, tokens_match
from gateway.console.health import AdapterHealthSource
from gateway.console.replies import ReplyStatusSource
from gateway.console.web import ConsoleRefusal, LoginRequired

MAX_FORM_FIELDS = 20
MAX_FIELD_CHARS = 2048


@dataclass
class Console:
    auth: ConsoleAuth
    throttle: TokenThrottle
    health: AdapterHealthSource
    replies: ReplyStatusSource


async def get_console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


async def current_admin(request: Request) -> Admin:
    console: Console = request.app.state.console
    session_id = request.cookies.get(SESSION_COOKIE, "")
    admin = await run_in_threadpool(console.auth.admin, session_id) if session_id else None
    if admin is None:
        raise LoginRequired
    return admin


async def form_fields(request: Request) -> dict[str, str]:
    """The urlencoded form of a POST: a few short text fields (anything else is refused; no body
    at all is an empty form, which then fails its CSRF check)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip()
    if not media_type and request.headers.get("content-length", "0") == "0":
        return {}
    if media_type != "application/x-www-form-urlencoded":
        raise ConsoleRefusal(415, "Formular nicht lesbar", "Bitte das Formular der Konsole verwenden.")
    form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
    fields: dict[str, str] = {}
    for name, value in form.items():
        if not isinstance(value, str) or len(value) > MAX_FIELD_CHARS:
            raise ConsoleRefusal(400, "Formular nicht lesbar", "Ein Feld des Formulars ist zu lang.")
        fields[name] = value
    return fields


def same_origin(request: Request) -> bool:
    """A browser names the site a form came from in ``Origin``; when it does, it must be this one
    ("null", sent under some referrer policies, names none: the token alone decides then)."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")


def require_csrf(request: Request, admin: Admin, form: dict[str, str]) -> None:
    if not (same_origin(request) and tokens_match(admin.csrf, form.get("csrf", ""))):
        raise ConsoleRefusal(403, "Formular abgelaufen",
                             "Das Formular war nicht mehr gültig (oder kam nicht von dieser Konsole). "
                             "Bitte die Seite neu laden und es noch einmal versuchen.")


ConsoleDep = Annotated[Console, Depends(get_console)]
AdminDep = Annotated[Admin, Depends(current_admin)]
FormDep = Annotated[dict[str, str], Depends(form_fields)]

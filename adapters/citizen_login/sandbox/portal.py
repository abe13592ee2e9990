"""A small demo portal (a stand-in for the town's portal backend), for `make run` and the
browser test: log in through the gateway's citizen login, see who is logged in, submit an
application with the session, log out. It talks to the gateway like a real portal backend:
OAuth client credentials, the login code exchanged server-side, ``Citizen-Session`` header."""

from __future__ import annotations

import datetime as dt
import html
import json
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

COOKIE = "demo_portal"
FORMS = {  # form id -> (LeiKa key, label)
    "hund-anmelden": ("99108008001000", "Hund anmelden (niedrig)"),
    "kita-abmelden": ("99056002001000", "Kind von der Kita abmelden (substantiell)"),
}
_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' *"


@dataclass
class DemoPortal:
    base_url: str
    gateway_url: str
    tenant: str
    idp: str
    client_id: str
    client_secret: str
    fixtures: Path
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _token(self, http: httpx.Client) -> str:
        response = http.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": self.client_id,
                                                   "client_secret": self.client_secret})
        response.raise_for_status()
        return str(response.json()["access_token"])

    def login_url(self, level: str) -> str:
        query = urlencode({"level": level, "return_to": f"{self.base_url}/portal/callback"})
        return f"{self.gateway_url}/v1/citizen/login/{self.tenant}/{self.idp}?{query}"

    def exchange(self, code: str) -> tuple[int, dict[str, Any]]:
        with httpx.Client(base_url=self.gateway_url, timeout=30) as http:
            response = http.post("/v1/citizen/sessions", json={"code": code},
                                 headers={"Authorization": f"Bearer {self._token(http)}"})
            return response.status_code, response.json()

    def sample(self, form: str) -> dict[str, Any]:
        first = sorted((self.fixtures / f"portal.{form}").glob("*.input.json"))[0]
        data: dict[str, Any] = json.loads(first.read_text(encoding="utf-8"))
        return data

    def filled(self, session: dict[str, Any], form: str) -> dict[str, Any]:
        """The form's sample, its applicant named as the login names the citizen (as a portal
        pre-fills its forms from the login)."""
        data = self.sample(form)
        applicant = data.get("antragsteller")
        attributes = (session.get("identity") or {}).get("attributes") or {}
        if isinstance(applicant, dict):
            for field, attribute in (("vorname", "given_name"), ("nachname", "family_name"),
                                     ("geburtsdatum", "birth_date")):
                if field in applicant and attributes.get(attribute):
                    applicant[field] = attributes[attribute]
        return data

    def apply(self, session: dict[str, Any], form: str) -> tuple[int, dict[str, Any]]:
        leika, _ = FORMS[form]
        envelope = {"tenant": self.tenant, "service": leika, "form": form,
                    "submitted_at": dt.datetime.now(dt.UTC).isoformat(), "data": self.filled(session, form)}
        with httpx.Client(base_url=self.gateway_url, timeout=30) as http:
            response = http.post("/v1/applications", json=envelope, headers={
                "Authorization": f"Bearer {self._token(http)}", "Citizen-Session": session["session_token"],
                "Idempotency-Key": f"demo-portal-{uuid.uuid4()}"})
            return response.status_code, response.json()

    def logout(self, session: dict[str, Any]) -> str | None:
        with httpx.Client(base_url=self.gateway_url, timeout=30) as http:
            response = http.post("/v1/citizen/logout", json={"return_to": f"{self.base_url}/portal/"}, headers={
                "Authorization": f"Bearer {self._token(http)}", "Citizen-Session": session["session_token"]})
            if response.status_code != 200:
                return None
            url = response.json().get("single_logout_url")
            return str(url) if url else None


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f'<!doctype html><html lang="de"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>body{{font-family:sans-serif;max-width:46em;margin:2em auto}}dt{{font-weight:bold}}</style>"
        f'</head><body><p><em>Demo-Portal der Stadt Tangerhütte (TEST)</em></p>{body}</body></html>',
        headers={"Content-Security-Policy": _CSP, "Cache-Control": "no-store"})


def router_for(portal: DemoPortal) -> APIRouter:
    router = APIRouter(prefix="/portal")

    def current(request: Request) -> dict[str, Any] | None:
        return portal.sessions.get(request.cookies.get(COOKIE, ""))

    @router.get("/")
    def home(request: Request) -> Response:
        session = current(request)
        if session is None:
            links = "".join(f'<li><a id="login-{lv}" href="{html.escape(portal.login_url(lv))}">Anmelden '
                            f"({lv})</a></li>" for lv in ("niedrig", "substantiell", "hoch"))
            return _page("Demo-Portal", f"<h1>Willkommen</h1><p>Bitte melden Sie sich an:</p><ul>{links}</ul>")
        identity = session["identity"]
        shown = identity["attributes"]
        name = " ".join(shown.get(k, "") for k in ("given_name", "family_name", "organisation_name")).strip()
        forms = "".join(f'<option value="{k}">{html.escape(v[1])}</option>' for k, v in FORMS.items())
        return _page("Demo-Portal", (
            f'<h1>Angemeldet</h1><dl><dt>Pseudonym</dt><dd id="pseudonym">{html.escape(identity["pseudonym"])}</dd>'
            f'<dt>Vertrauensniveau</dt><dd id="trust-level">{html.escape(identity["trust_level"])}</dd>'
            f'<dt>Name</dt><dd id="name">{html.escape(name)}</dd></dl>'
            f'<form method="post" action="{portal.base_url}/portal/apply"><label>Antrag '
            f'<select name="form" id="form">{forms}</select></label> '
            f'<button type="submit" id="submit">Antrag absenden</button></form>'
            f'<form method="post" action="{portal.base_url}/portal/logout">'
            f'<button id="logout">Abmelden</button></form>'))

    @router.get("/callback")
    def callback(code: str) -> Response:
        status, body = portal.exchange(code)
        if status != 201:
            retry = body.get("login_url")
            link = f'<p><a id="retry" href="{html.escape(portal.gateway_url + retry)}">Erneut anmelden</a></p>' \
                if retry else ""
            return _page("Anmeldung fehlgeschlagen", f'<h1>Anmeldung fehlgeschlagen</h1><p id="problem">'
                         f'{html.escape(str(body.get("detail", body.get("title", ""))))}</p>{link}')
        sid = secrets.token_urlsafe(24)
        with portal._lock:
            portal.sessions[sid] = body
        response = RedirectResponse(f"{portal.base_url}/portal/", status_code=303)
        response.set_cookie(COOKIE, sid, httponly=True, samesite="lax")
        return response

    @router.post("/apply")
    async def apply(request: Request) -> Response:
        session = current(request)
        if session is None:
            return RedirectResponse(f"{portal.base_url}/portal/", status_code=303)
        form = str((await request.form(max_files=0, max_fields=2)).get("form", "hund-anmelden"))
        status, body = portal.apply(session, form if form in FORMS else "hund-anmelden")
        if status == 201:
            return _page("Antrag eingereicht", f'<h1>Antrag eingereicht</h1><p>Aktenzeichen <strong id="reference">'
                         f'{html.escape(body["reference"])}</strong></p><p id="case-id">{html.escape(body["case_id"])}'
                         f'</p><p><a href="{portal.base_url}/portal/">Zurück</a></p>')
        needed = body.get("required")
        retry = f'<p><a id="retry" href="{html.escape(portal.login_url(needed))}">Mit Niveau {html.escape(needed)} ' \
                f"anmelden</a></p>" if needed else ""
        return _page("Antrag abgelehnt", f'<h1>Antrag nicht angenommen</h1><p id="problem">'
                     f'{html.escape(str(body.get("detail", "")))}</p>{retry}')

    @router.post("/logout")
    def logout(request: Request) -> Response:
        sid = request.cookies.get(COOKIE, "")
        with portal._lock:
            session = portal.sessions.pop(sid, None)
        target = (portal.logout(session) if session else None) or f"{portal.base_url}/portal/"
        response = RedirectResponse(target, status_code=303)
        response.delete_cookie(COOKIE)
        return response

    return router

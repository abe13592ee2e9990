"""HTTP endpoints of the citizen login.

Browser-facing (the citizen's browser is sent here by the portal):

- ``GET  /v1/citizen/login/{tenant}/{idp}?level=&return_to=`` starts a login (auto-posted
  AuthnRequest, or a redirect for the HTTP-Redirect binding);
- ``POST /v1/citizen/saml/{tenant}/{idp}/acs`` the assertion consumer service: on success
  the browser returns to ``return_to`` with a one-time ``code``; a refusal by the identity
  provider returns there too (its code yields the problem); a response that fails a check is
  answered with the problem at once;
- ``GET|POST /v1/citizen/saml/{tenant}/{idp}/slo`` the identity provider's logout answer;
- ``GET  /v1/citizen/saml/{tenant}/{idp}/metadata`` the service provider's metadata.

The login start, the ACS and the SLO endpoint are rate limited per client address, and rejected
answers lock the address out for a while (429 with ``Retry-After``; ``limits.py``).

Portal-facing (OAuth client credentials, scope ``applications:submit``):

- ``POST /v1/citizen/sessions`` exchanges the code for the session token and the login's
  attributes (once, within two minutes);
- ``GET  /v1/citizen/session`` (header ``Citizen-Session``) verifies a session and returns a
  refreshed token;
- ``POST /v1/citizen/logout`` (header ``Citizen-Session``) ends the session here and, where
  the identity provider supports it, returns where to send the browser for single logout.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any
from urllib.parse import urlencode

import anyio.to_thread
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from adapters.citizen_login import bindings, sp_metadata
from adapters.citizen_login.limits import AddressThrottle
from adapters.citizen_login.login import CitizenLogin
from adapters.citizen_login.logout import check_logout_response
from adapters.citizen_login.service import check_return_to
from gateway.api.deps import PrincipalDep
from gateway.api.throttle import client_address
from gateway.case.model import TrustLevel
from gateway.errors import Forbidden, InvalidRequest
from gateway.identity import BrowserStep, CitizenSessionInvalid, LoginIdentity, LoginRefused
from gateway.sessions import CitizenSession

SESSION_HEADER = "Citizen-Session"
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache", "Referrer-Policy": "no-referrer"}


class CodeExchange(BaseModel):
    code: str = Field(min_length=16, max_length=128)


class LogoutRequestBody(BaseModel):
    return_to: str = Field(max_length=2000)


def _browser(step: BrowserStep) -> Response:
    if not step.fields:
        return RedirectResponse(step.url, status_code=303, headers=_NO_STORE)
    return HTMLResponse(bindings.form_page(step), headers={**_NO_STORE,
                                                           "Content-Security-Policy": bindings.AUTO_SUBMIT_CSP})


def _back(return_to: str, code: str) -> RedirectResponse:
    separator = "&" if "?" in return_to else "?"
    return RedirectResponse(return_to + separator + urlencode({"code": code}), status_code=303, headers=_NO_STORE)


def identity_json(identity: LoginIdentity) -> dict[str, Any]:
    return {"provider": identity.provider, "tenant": identity.tenant_ars, "pseudonym": identity.pseudonym,
            "trust_level": identity.trust_level.value, "authn_context": identity.authn_context,
            "proved_by": identity.proved_by, "postbox_handle": identity.postbox_handle, "kind": identity.kind,
            "attributes": dict(identity.attributes)}


def _session_json(token: str, session: CitizenSession) -> dict[str, Any]:
    return {"session_token": token, "expires_at": session.expires_at.isoformat(),
            "logged_in_at": session.logged_in_at.isoformat(), "identity": identity_json(session.identity)}


def router_for(login: CitizenLogin, throttle: AddressThrottle) -> APIRouter:
    router = APIRouter(prefix="/v1/citizen", tags=["citizen login"])

    def admitted(request: Request) -> None:
        """Raises TooManyRequests while the client's address is locked out or over its rate,
        before the body is read. A plain ``def``: FastAPI runs it in the thread pool (Redis
        blocks). A route dependency: an annotation could not name this closure."""
        throttle.admit(client_address(request))

    def session_of(token: str | None, principal: Any) -> CitizenSession:
        if not token:
            raise CitizenSessionInvalid(f"the {SESSION_HEADER} header is required")
        session = login.sessions.verify(token)
        if not principal.may_act_for(session.identity.tenant_ars):
            raise Forbidden("this client may not act for that municipality")
        return session

    @router.get("/login/{tenant}/{idp}", response_class=HTMLResponse, dependencies=[Depends(admitted)])
    async def start(tenant: str, idp: str, return_to: Annotated[str, Query(max_length=2000)],
                    level: TrustLevel | None = None) -> Response:
        """Start a login at ``level`` (at least the configured minimum); the browser comes back
        to ``return_to`` with a one-time code."""
        saml = login.login(tenant, idp)
        minimum = level or login.options.minimum_level
        if minimum.rank < login.options.minimum_level.rank:
            minimum = login.options.minimum_level
        step = await anyio.to_thread.run_sync(saml.begin, minimum, return_to)
        return _browser(step)

    @router.post("/saml/{tenant}/{idp}/acs", include_in_schema=False, dependencies=[Depends(admitted)])
    async def acs(tenant: str, idp: str, request: Request) -> Response:
        saml = login.login(tenant, idp)
        async with throttle.counting_rejections(client_address(request)):
            form = await request.form(max_files=0, max_fields=4, max_part_size=login.options.max_response_bytes * 2)
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
            pending = saml.pending_for(fields, "login")
            try:
                identity = await anyio.to_thread.run_sync(saml.complete_pending, pending, fields)
            except LoginRefused as refused:  # the identity provider's verified "no": not a failure
                problem = refused.to_problem(request.url.path)
                problem["login_url"] = "/v1/citizen/login/{}/{}?{}".format(tenant, idp, urlencode(
                    {"level": problem.get("required", "niedrig"), "return_to": pending.return_to}))
                return _back(pending.return_to, login.pending.issue_code({"problem": problem}))
        token = login.sessions.issue(identity)
        # the token carries no names or addresses: the portal gets them once, from the login itself
        session = dataclasses.replace(login.sessions.verify(token), identity=identity)
        return _back(pending.return_to, login.pending.issue_code({"session": _session_json(token, session)}))

    @router.get("/saml/{tenant}/{idp}/metadata")
    async def metadata(tenant: str, idp: str) -> Response:
        """The service provider's metadata for the identity provider."""
        return Response(sp_metadata.render(login.login(tenant, idp).sp), media_type="application/samlmetadata+xml")

    @router.api_route("/saml/{tenant}/{idp}/slo", methods=["GET", "POST"], include_in_schema=False,
                      dependencies=[Depends(admitted)])
    async def slo(tenant: str, idp: str, request: Request) -> Response:
        saml = login.login(tenant, idp)
        async with throttle.counting_rejections(client_address(request)):
            if request.method == "GET":
                pending = check_logout_response(saml, request.url.query, {})
            else:
                form = await request.form(max_files=0, max_fields=4, max_part_size=512 * 1024)
                pending = check_logout_response(saml, None, {k: v for k, v in form.items() if isinstance(v, str)})
        return RedirectResponse(pending.return_to, status_code=303, headers=_NO_STORE)

    @router.post("/sessions", status_code=201)
    async def exchange(body: CodeExchange, principal: PrincipalDep) -> JSONResponse:
        """The portal backend exchanges the one-time code for the login's result."""
        principal.require("applications:submit")
        result = login.pending.redeem(body.code)
        if result is None:
            raise InvalidRequest("the login code is unknown, expired or already used")
        if "problem" in result:
            problem = result["problem"]
            return JSONResponse(problem, status_code=int(problem["status"]), media_type="application/problem+json",
                                headers=_NO_STORE)
        session = result["session"]
        if not principal.may_act_for(session["identity"]["tenant"]):
            raise Forbidden("this client may not act for that municipality")
        return JSONResponse(session, status_code=201, headers=_NO_STORE)

    @router.get("/session")
    async def current(principal: PrincipalDep,
                      token: Annotated[str | None, Header(alias=SESSION_HEADER)] = None) -> JSONResponse:
        """Verify a citizen session; the answer carries a refreshed token (idle clock reset)."""
        principal.require("applications:submit")
        session = session_of(token, principal)
        refreshed = login.sessions.refresh(session)
        return JSONResponse(_session_json(refreshed, login.sessions.verify(refreshed)), headers=_NO_STORE)

    @router.post("/logout")
    async def logout(body: LogoutRequestBody, principal: PrincipalDep,
                     token: Annotated[str | None, Header(alias=SESSION_HEADER)] = None) -> JSONResponse:
        """End the session here (always) and at the identity provider (where it supports it)."""
        principal.require("applications:submit")
        session = session_of(token, principal)
        check_return_to(body.return_to, login.options.return_origins)
        login.sessions.revoke(session)
        saml = login.login(session.identity.tenant_ars, session.identity.provider)
        step = await anyio.to_thread.run_sync(saml.logout, session.identity, body.return_to)
        continue_at = None
        if step is not None:
            continue_at = step.url if not step.fields else None
            if step.fields:
                code = login.pending.issue_code({"step": {"url": step.url, "fields": dict(step.fields)}})
                continue_at = f"{login.options.public_base_url}/v1/citizen/continue?{urlencode({'code': code})}"
        return JSONResponse({"logged_out": True, "single_logout_url": continue_at}, headers=_NO_STORE)

    @router.get("/continue", include_in_schema=False)
    async def continue_step(code: Annotated[str, Query(max_length=128)]) -> Response:
        result = login.pending.redeem(code)
        if result is None or "step" not in result:
            raise InvalidRequest("the code is unknown, expired or already used")
        return _browser(BrowserStep(url=result["step"]["url"], fields=result["step"]["fields"]))

    return router

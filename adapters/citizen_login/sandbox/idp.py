"""The identity-provider sandbox: metadata, SSO (HTTP-POST and HTTP-Redirect), a login page to
pick a demo citizen or business and a trust level, refusals with a status detail, and single
logout. It checks what a real identity provider checks of the gateway: the AuthnRequest's
signature against the service provider's published metadata and its ACS URL."""

from __future__ import annotations

import base64
import datetime as dt
import html
import secrets
import threading
import time
from dataclasses import dataclass, field

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from lxml import etree

from adapters.citizen_login import attributes, bindings, messages, ns, xmldsig
from adapters.citizen_login.keys import Certificate, KeyPair
from adapters.citizen_login.sandbox import people
from adapters.citizen_login.sandbox.responses import ResponseSpec, build, refusal, to_bytes
from gateway import safexml
from gateway.identity import BrowserStep, LoginRejected

LEVELS = ("STORK-QAA-Level-1", "STORK-QAA-Level-3", "STORK-QAA-Level-4")
LEVEL_LABELS = {"STORK-QAA-Level-1": "niedrig (Benutzername/Passwort)", "STORK-QAA-Level-3": "substantiell (ELSTER)",
                "STORK-QAA-Level-4": "hoch (Online-Ausweis)"}
_PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action *"


@dataclass(frozen=True)
class ServiceProviderInfo:
    entity_id: str
    acs_url: str
    slo_url: str | None
    signing: tuple[Certificate, ...]
    encryption: Certificate


@dataclass
class SandboxIdp:
    base_url: str
    entity_id: str
    signing: KeyPair
    published: tuple[Certificate, ...]
    sp_metadata_urls: list[str]
    _sps: dict[str, ServiceProviderInfo] = field(default_factory=dict)
    _loaded: float = 0.0
    _logins: dict[str, dict[str, str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- metadata -------------------------------------------------------------------------
    def metadata(self) -> bytes:
        root = etree.Element(ns.q(ns.MD, "EntityDescriptor"), nsmap={"md": ns.MD, "ds": ns.DS},
                             entityID=self.entity_id)
        idp = etree.SubElement(root, ns.q(ns.MD, "IDPSSODescriptor"), WantAuthnRequestsSigned="true",
                               protocolSupportEnumeration=ns.SAMLP)
        for certificate in self.published:
            descriptor = etree.SubElement(idp, ns.q(ns.MD, "KeyDescriptor"), use="signing")
            data = etree.SubElement(etree.SubElement(descriptor, ns.q(ns.DS, "KeyInfo")), ns.q(ns.DS, "X509Data"))
            etree.SubElement(data, ns.q(ns.DS, "X509Certificate")).text = certificate.b64
        etree.SubElement(idp, ns.q(ns.MD, "SingleLogoutService"), Binding=ns.BINDING_REDIRECT,
                         Location=f"{self.base_url}/idp/slo")
        for binding in (ns.BINDING_POST, ns.BINDING_REDIRECT):
            etree.SubElement(idp, ns.q(ns.MD, "SingleSignOnService"), Binding=binding,
                             Location=f"{self.base_url}/idp/sso")
        return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))

    def service_provider(self, entity_id: str) -> ServiceProviderInfo:
        with self._lock:
            if entity_id not in self._sps or time.monotonic() - self._loaded > 60:
                self._sps = {}
                for url in self.sp_metadata_urls:
                    info = _parse_sp_metadata(httpx.get(url, timeout=10).raise_for_status().content)
                    self._sps[info.entity_id] = info
                self._loaded = time.monotonic()
        if entity_id not in self._sps:
            raise LoginRejected("unknown service provider", check="issuer")
        return self._sps[entity_id]

    # -- single sign-on -------------------------------------------------------------------
    def receive(self, data: bytes, signed_in_query: bool) -> dict[str, str]:
        root = safexml.parse(data, max_bytes=256 * 1024, max_depth=32)
        if root.tag != ns.q(ns.SAMLP, "AuthnRequest"):
            raise LoginRejected("not an AuthnRequest", check="structure")
        issuer = root.findtext(ns.q(ns.SAML, "Issuer")) or ""
        sp = self.service_provider(issuer.strip())
        if not signed_in_query:
            xmldsig.verify(root, sp.signing)
        destination = f"{self.base_url}/idp/sso"
        if root.get("AssertionConsumerServiceURL") != sp.acs_url or root.get("Destination") != destination:
            raise LoginRejected("ACS URL or Destination do not match the metadata", check="destination")
        refs = root.findall(f".//{ns.q(ns.SAML, 'AuthnContextClassRef')}")
        minimum = (refs[0].text or "").strip() if refs else LEVELS[0]
        display = root.findtext(f".//{ns.q(ns.CLASSIC_UI, 'OrganizationDisplayName')}") or issuer
        return {"request_id": root.get("ID") or "", "sp": sp.entity_id, "minimum": minimum, "display": display}

    def start(self, request: dict[str, str], relay: str | None) -> str:
        login = secrets.token_urlsafe(16)
        with self._lock:
            self._logins[login] = {**request, "relay": relay or ""}
        return login

    def login_page(self, login: str) -> str:
        request = self._logins[login]
        minimum = LEVELS.index(request["minimum"]) if request["minimum"] in LEVELS else 0
        accounts = "".join(
            f'<label><input type="radio" name="account" value="{p.key}"{" checked" if i == 0 else ""}> '
            f"{html.escape(p.label)}</label><br>" for i, p in enumerate(people.PEOPLE))
        levels = "".join(f'<option value="{lv}">{html.escape(LEVEL_LABELS[lv])}</option>' for lv in LEVELS[minimum:])
        return (f'<!doctype html><html lang="de"><head><meta charset="utf-8"><title>Sandbox-Anmeldung</title>'
                f'<style>body{{font-family:sans-serif;max-width:40em;margin:2em auto}}</style></head><body>'
                f'<h1>Sandbox-Konto (TEST)</h1><p>Anmeldung für <strong>{html.escape(request["display"])}</strong>, '
                f'verlangtes Vertrauensniveau: {html.escape(request["minimum"])}</p>'
                f'<form method="post" action="{self.base_url}/idp/login"><input type="hidden" name="login" '
                f'value="{login}"><fieldset><legend>Demo-Konto</legend>{accounts}</fieldset>'
                f'<p><label>Vertrauensniveau <select name="level">{levels}</select></label></p>'
                f'<button type="submit" name="action" value="login" id="login">Anmelden</button> '
                f'<button type="submit" name="action" value="cancel" id="cancel">Abbrechen</button> '
                f'<button type="submit" name="action" value="refuse-level" id="refuse-level">Niveau nicht '
                f"erreichbar</button></form></body></html>")

    def answer(self, login: str, action: str, account_key: str, level: str) -> BrowserStep:
        with self._lock:
            request = self._logins.pop(login)
        sp = self.service_provider(request["sp"])
        account = people.account(account_key)
        values = dict(account.values)
        values[attributes.TRUST_LEVEL] = level
        values[attributes.ASSERTION_PROVED_BY] = people.PROVED_BY[level]
        spec = ResponseSpec(issuer=self.entity_id, audience=sp.entity_id, acs_url=sp.acs_url,
                            request_id=request["request_id"], attributes=values, level=level,
                            attribute_trust={name: "HOCH" if level == LEVELS[2] else "NORMAL" for name in values})
        if action == "cancel":
            root = refusal(spec, "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed",
                           "Authentication was canceled by the user.", "Die Anmeldung wurde abgebrochen.")
        elif action == "refuse-level" or LEVELS.index(level) < LEVELS.index(request["minimum"]):
            root = refusal(spec, "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext",
                           "The requested level of assurance could not be reached.",
                           f"Das Vertrauensniveau {request['minimum']} wurde nicht erreicht.")
        else:
            root = build(spec, self.signing, sp.encryption)
        fields = {"SAMLResponse": base64.b64encode(to_bytes(root)).decode()}
        if request["relay"]:
            fields["RelayState"] = request["relay"]
        return BrowserStep(url=sp.acs_url, fields=fields)

    # -- single logout --------------------------------------------------------------------
    def logout(self, query: str, entity_hint: str | None) -> str:
        sps = [self.service_provider(entity_hint)] if entity_hint else list(self._sps.values())
        for sp in sps:
            try:
                data, relay = bindings.decode_redirect(query, "SAMLRequest", sp.signing)
            except LoginRejected:
                continue
            request = safexml.parse(data, max_bytes=64 * 1024, max_depth=16)
            root = etree.Element(ns.q(ns.SAMLP, "LogoutResponse"), nsmap={"samlp": ns.SAMLP, "saml": ns.SAML},
                                 ID=messages.new_id(), Version="2.0",
                                 IssueInstant=messages.instant(dt.datetime.now(dt.UTC)),
                                 Destination=sp.slo_url or "", InResponseTo=request.get("ID") or "")
            etree.SubElement(root, ns.q(ns.SAML, "Issuer")).text = self.entity_id
            status = etree.SubElement(root, ns.q(ns.SAMLP, "Status"))
            etree.SubElement(status, ns.q(ns.SAMLP, "StatusCode"), Value=ns.STATUS_SUCCESS)
            return bindings.redirect(root, sp.slo_url or "", "SAMLResponse", relay, self.signing).url
        raise LoginRejected("the logout request does not verify", check="signature-invalid")


def _parse_sp_metadata(data: bytes) -> ServiceProviderInfo:
    root = safexml.parse(data, max_bytes=256 * 1024, max_depth=16)
    sp = root.find(ns.q(ns.MD, "SPSSODescriptor"))
    certs: dict[str, list[Certificate]] = {"signing": [], "encryption": []}
    for descriptor in sp.findall(ns.q(ns.MD, "KeyDescriptor")):
        for text in descriptor.iterfind(f".//{ns.q(ns.DS, 'X509Certificate')}"):
            certs[descriptor.get("use") or "signing"].append(Certificate.from_b64(text.text or ""))
    acs = sp.find(ns.q(ns.MD, "AssertionConsumerService")).get("Location")
    slo = next((e.get("Location") for e in sp.findall(ns.q(ns.MD, "SingleLogoutService"))
                if e.get("Binding") == ns.BINDING_REDIRECT), None)
    return ServiceProviderInfo(entity_id=root.get("entityID"), acs_url=acs, slo_url=slo,
                               signing=tuple(certs["signing"]), encryption=certs["encryption"][0])


def _page(body: str) -> HTMLResponse:
    return HTMLResponse(body, headers={"Content-Security-Policy": _PAGE_CSP, "Cache-Control": "no-store"})


def router_for(idp: SandboxIdp) -> APIRouter:
    router = APIRouter(prefix="/idp")

    @router.get("/metadata")
    def metadata() -> Response:
        return Response(idp.metadata(), media_type="application/samlmetadata+xml")

    @router.api_route("/sso", methods=["GET", "POST"])
    async def sso(request: Request) -> Response:
        if request.method == "POST":
            form = await request.form(max_files=0, max_fields=4)
            data = bindings.b64decode(str(form.get("SAMLRequest", "")), 256 * 1024)
            relay = form.get("RelayState")
            received = idp.receive(data, signed_in_query=False)
        else:
            issuer_hint = None
            raw = dict(request.query_params)
            inflated = bindings.inflate(bindings.b64decode(raw.get("SAMLRequest", ""), 256 * 1024))
            issuer_hint = (safexml.parse(inflated, max_bytes=256 * 1024).findtext(ns.q(ns.SAML, "Issuer")) or "")
            sp = idp.service_provider(issuer_hint.strip())
            data, relay = bindings.decode_redirect(request.url.query, "SAMLRequest", sp.signing)
            received = idp.receive(data, signed_in_query=True)
        login = idp.start(received, str(relay) if relay else None)
        return _page(idp.login_page(login))

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=6)
        step = idp.answer(str(form.get("login", "")), str(form.get("action", "login")),
                          str(form.get("account", "erika")), str(form.get("level", LEVELS[0])))
        return HTMLResponse(bindings.form_page(step), headers={"Content-Security-Policy": bindings.AUTO_SUBMIT_CSP})

    @router.get("/slo")
    async def slo(request: Request) -> Response:
        return RedirectResponse(idp.logout(request.url.query, None), status_code=303)

    return router

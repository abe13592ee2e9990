"""Client of the FIT-Connect Routing API: which destination serves a service in an area.

``GET /routes?leikaKey=<14 digits>&ars=<ARS>`` answers ``count``, ``offset``, ``totalCount``
and ``routes``; each route carries ``destinationId`` and ``destinationSignature``, a JWS
(PS512) the Self-Service-Portal signed over the addressing information the authority
entered into its XZuFi system. The Routing API and the portal networks in between are not
trusted: a route counts only when its signature verifies with a key of the portal's JWKS
(``/.well-known/jwks.json``) and its payload -- ``iss`` the portal, ``destinationId`` the
route's, ``submissionHost`` the host of the Submission API we send to, ``services`` naming
the LeiKa key (``leistungIDs``) and an area containing the ARS (``gebietIDs``) -- fits the
request. ``GET /areas?areaSearchexpression=...`` finds area ids by name or postcode.

Sources: the Routing API's OpenAPI document (``routing-api.yaml`` 2.0.0, vendored in the
public repository ``maschinenlesbar-org/fit-connect-cli``), the payload example and the
required members of the addressing information (FIT-Connect documentation, *Zustellpunkt
ermitteln*, and ``destination-schemas/destination_schema.json`` of the Java SDK).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from adapters.fitconnect import jose
from adapters.fitconnect.events import is_uuid
from adapters.fitconnect.http import MAX_JSON_BYTES, parse_json, raise_for_status, read_capped
from adapters.fitconnect.keys import jose_key
from gateway.errors import PermanentError, UpstreamUnavailable

LEIKA = re.compile(r"^99\d{12}$")
ARS = re.compile(r"^(\d{2}|\d{3}|\d{5}|\d{9}|\d{12})$")
GEBIET_RS = "urn:de:bund:destatis:bevoelkerungsstatistik:schluessel:rs:"
LEISTUNG = "urn:de:fim:leika:leistung:"
MAX_SIGNATURE = 64 * 1024
JWKS_TTL_SECONDS = 3600.0


class NoRoute(PermanentError):
    slug = "fitconnect-no-route"
    title = "The Routing API names no verifiable destination for this service and area"


@dataclass(frozen=True)
class Route:
    destination_id: str
    submission_host: str
    destination_name: str | None


@dataclass(frozen=True)
class Area:
    id: str
    name: str
    type: str


class RoutingApi:
    def __init__(self, url: str, portal_jwks_url: str, portal_issuer: str, submission_api_url: str,
                 http: httpx.Client, clock: Callable[[], float] = time.monotonic) -> None:
        self.base, self.jwks_url, self.issuer = url.rstrip("/"), portal_jwks_url, portal_issuer
        self.submission_host = urlsplit(submission_api_url).netloc
        self._http, self._clock = http, clock
        self._keys: dict[str, RSAKey] = {}
        self._fetched = float("-inf")
        self._lock = threading.Lock()

    def _get(self, url: str, params: list[tuple[str, str | int | float | bool | None]] | None = None) -> Any:
        try:
            with self._http.stream("GET", url, params=params, headers={"Accept": "application/json"}) as response:
                status = response.status_code
                body = read_capped(response, MAX_JSON_BYTES)
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"Routing API not reachable ({type(exc).__name__})") from None
        raise_for_status(status, "GET", body)
        return parse_json(body, "the Routing API")

    def route(self, leika: str, ars: str) -> Route:
        """The one destination for the service in the area, its signature verified."""
        if not LEIKA.match(leika) or not ARS.match(ars):
            raise NoRoute("a route needs a LeiKa key of 14 digits and an ARS")
        page = self._get(f"{self.base}/routes", [("leikaKey", leika), ("ars", ars), ("offset", 0), ("limit", 100)])
        routes = page.get("routes") if isinstance(page, dict) else None
        found: dict[str, Route] = {}
        for item in routes if isinstance(routes, list) else []:
            route = self.verified(item, leika, ars)
            if route is not None:
                found[route.destination_id] = route
        if len(found) != 1:
            raise NoRoute("no verifiable destination" if not found else "more than one destination answers")
        return next(iter(found.values()))

    def areas(self, search: list[str]) -> list[Area]:
        params: list[tuple[str, str | int | float | bool | None]] = [
            ("areaSearchexpression", term) for term in search[:10]]
        page = self._get(f"{self.base}/areas", params)
        items = page.get("areas") if isinstance(page, dict) else None
        return [Area(id=str(a["id"]), name=str(a["name"]), type=str(a["type"]))
                for a in items if isinstance(a, dict) and {"id", "name", "type"} <= set(a)] \
            if isinstance(items, list) else []

    # -- destinationSignature --------------------------------------------------------------
    def verified(self, item: Any, leika: str, ars: str) -> Route | None:
        """The route if its destinationSignature verifies and fits, else None."""
        if not isinstance(item, dict):
            return None
        destination_id, signature = item.get("destinationId"), item.get("destinationSignature")
        if not isinstance(destination_id, str) or not is_uuid(destination_id.lower()) \
                or not isinstance(signature, str) or len(signature) > MAX_SIGNATURE:
            return None
        try:
            claims = self._claims(signature)
        except (jose.JoseFailure, JoseError, ValueError):
            return None
        if claims.get("iss") != self.issuer or str(claims.get("destinationId", "")).lower() != destination_id.lower() \
                or claims.get("submissionHost") != self.submission_host:
            return None
        if not any(_serves(service, leika, ars) for service in claims.get("services") or []):
            return None
        name = item.get("destinationName")
        return Route(destination_id=destination_id.lower(), submission_host=str(claims["submissionHost"]),
                     destination_name=name if isinstance(name, str) else None)

    def _claims(self, signature: str) -> dict[str, Any]:
        header = jose.jwe_header(signature)  # the protected header of the JWS, before any key is used
        kid = header.get("kid")
        if header.get("alg") != jose.ALG_SIGNATURE or not isinstance(kid, str):
            raise jose.JoseFailure("destinationSignature header not acceptable")
        key = self._key(kid)
        if key is None:
            raise jose.JoseFailure("unknown signing key")
        value = parse_json(jws.deserialize_compact(signature, key, algorithms=[jose.ALG_SIGNATURE]).payload,
                           "destinationSignature")
        if not isinstance(value, dict):
            raise jose.JoseFailure("destinationSignature payload is not an object")
        return value

    def _key(self, kid: str) -> RSAKey | None:
        with self._lock:
            if kid not in self._keys or self._clock() - self._fetched > JWKS_TTL_SECONDS:
                jwks = self._get(self.jwks_url)
                self._keys = {k["kid"]: jose_key(k) for k in (jwks.get("keys") or [] if isinstance(jwks, dict) else [])
                              if isinstance(k, dict) and k.get("kty") == "RSA" and isinstance(k.get("kid"), str)
                              and k.get("alg", jose.ALG_SIGNATURE) == jose.ALG_SIGNATURE}
                self._fetched = self._clock()
            return self._keys.get(kid)


def _serves(service: Any, leika: str, ars: str) -> bool:
    """A services entry names the LeiKa key and an area (ARS) that contains ``ars``."""
    if not isinstance(service, dict):
        return False
    leistungen, gebiete = service.get("leistungIDs") or [], service.get("gebietIDs") or []
    return f"{LEISTUNG}{leika}" in leistungen and any(
        isinstance(g, str) and g.startswith(GEBIET_RS) and ars.startswith(g.removeprefix(GEBIET_RS))
        and g.removeprefix(GEBIET_RS) != "" for g in gebiete)

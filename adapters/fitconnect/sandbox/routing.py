"""The sandbox's Routing API (``/routing/v1``) and Self-Service-Portal JWKS (``/ssp``).

``GET /routing/v1/routes?leikaKey&ars`` answers every destination offering the service in an
area that contains the ARS (a destination's ``regions`` are ``DE`` + ARS), each with a
``destinationSignature`` the sandbox portal signs now (PS512, ``kid`` of its key) over the
addressing information: ``submissionHost`` (the host the sandbox is reached at), ``iss``,
``services`` (``gebietIDs``, ``leistungIDs``), ``destinationId``, ``iat``, ``jti``.
``GET /routing/v1/areas?areaSearchexpression=...`` finds the configured areas by name or id
(``*`` as a wildcard). Shapes as in the Routing API's OpenAPI document 2.0.0.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Annotated, Any
from urllib.parse import urlsplit

import orjson
from fastapi import APIRouter, Query
from joserfc import jws

from adapters.fitconnect.keys import jose_key
from adapters.fitconnect.pki import public_jwk
from adapters.fitconnect.routing import GEBIET_RS
from adapters.fitconnect.sandbox.state import Problem, Sandbox

LEIKA_URN = "urn:de:fim:leika:leistung:"


def sign_destination(sandbox: Sandbox, destination_id: str, services: list[dict[str, Any]],
                     host: str | None = None) -> str:
    """The portal's destinationSignature over a destination's addressing information."""
    config = sandbox.config
    payload = {
        "submissionHost": host or urlsplit(sandbox.base_url or "http://sandbox.invalid").netloc,
        "iss": config.ssp_issuer,
        "services": services,
        "destinationId": destination_id,
        "iat": int(time.time()),
        "jti": str(uuid.uuid4()),
    }
    key = config.ssp_signing_key
    return jws.serialize_compact({"kid": key["kid"], "typ": "jwt", "alg": "PS512"}, orjson.dumps(payload),
                                 jose_key(key), algorithms=["PS512"])


def addressing(services: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"gebietIDs": [GEBIET_RS + r.removeprefix("DE") for r in s.get("regions", []) if r.startswith("DE")],
             "leistungIDs": [s["identifier"]]} for s in services]


def routing_router(sandbox: Sandbox) -> APIRouter:
    router = APIRouter()

    @router.get("/ssp/.well-known/jwks.json")
    def ssp_jwks() -> dict[str, Any]:
        return {"keys": [public_jwk(sandbox.config.ssp_signing_key)]}

    @router.get("/routing/v1/routes")
    def routes(leika: Annotated[str, Query(alias="leikaKey", pattern=r"^99\d{12}$")],
               ars: Annotated[str | None, Query(pattern=r"^(\d{2}|\d{3}|\d{5}|\d{9}|\d{12})$")] = None,
               offset: Annotated[int, Query(ge=0)] = 0, limit: Annotated[int, Query(ge=1, le=500)] = 100
               ) -> dict[str, Any]:
        if ars is None:
            raise Problem(400, "request-invalid", "Exactly one area parameter must be given")
        found = []
        for destination in sandbox.destinations.values():
            offered = [s for s in destination.services if s["identifier"] == LEIKA_URN + leika
                       and any(ars.startswith(r.removeprefix("DE")) for r in s.get("regions", []))]
            if offered and destination.status == "active":
                found.append({"destinationId": destination.id,
                              "destinationSignature": sign_destination(sandbox, destination.id,
                                                                       addressing(destination.services)),
                              "destinationName": destination.name})
        page = found[offset: offset + limit]
        return {"count": len(page), "offset": offset, "totalCount": len(found), "routes": page}

    @router.get("/routing/v1/areas")
    def areas(search: Annotated[list[str], Query(alias="areaSearchexpression", min_length=1, max_length=10)],
              offset: Annotated[int, Query(ge=0)] = 0, limit: Annotated[int, Query(ge=1, le=500)] = 100
              ) -> dict[str, Any]:
        patterns = [re.compile(re.escape(term).replace(r"\*", ".*"), re.IGNORECASE) for term in search]
        found = [a for a in sandbox.config.areas
                 if all(p.search(a["name"]) or p.fullmatch(a["id"]) for p in patterns)]
        page = found[offset: offset + limit]
        return {"count": len(page), "offset": offset, "totalCount": len(found), "areas": page}

    return router

"""Routing API client: a route counts only with a verified destinationSignature that fits."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import orjson
import pytest
from joserfc import jws

from adapters.fitconnect.keys import jose_key
from adapters.fitconnect.pki import public_jwk
from adapters.fitconnect.routing import GEBIET_RS, LEISTUNG, NoRoute, RoutingApi
from adapters.fitconnect.sandbox.config import SSP_ISSUER, load_jwk

SSP = load_jwk("ssp-sig.jwk.json")
OTHER = load_jwk("landkreis-sig-2026.jwk.json")
DEST = str(uuid.uuid4())
LEIKA, ARS = "99050012104000", "150905350535"
HOST = "submission-api.example"


def signature(key: dict[str, Any] = SSP, **changes: Any) -> str:
    payload = {"submissionHost": HOST, "iss": SSP_ISSUER, "destinationId": DEST, "iat": 1, "jti": str(uuid.uuid4()),
               "services": [{"gebietIDs": [GEBIET_RS + "15090"], "leistungIDs": [LEISTUNG + LEIKA]}]}
    payload.update(changes)
    return jws.serialize_compact({"kid": key["kid"], "typ": "jwt", "alg": "PS512"}, orjson.dumps(payload),
                                 jose_key(key), algorithms=["PS512"])


def api(*routes: dict[str, Any], seen: list[httpx.Request] | None = None) -> RoutingApi:
    def handle(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        if request.url.path.endswith("/jwks.json"):
            return httpx.Response(200, json={"keys": [public_jwk(SSP)]})
        if request.url.path.endswith("/areas"):
            return httpx.Response(200, json={"count": 1, "offset": 0, "totalCount": 1, "areas": [
                {"id": "15090", "name": "Stendal, Landkreis", "type": "Landkreis"}]})
        return httpx.Response(200, json={"count": len(routes), "offset": 0, "totalCount": len(routes),
                                         "routes": list(routes)})
    return RoutingApi("https://routing.example/v1", "https://ssp.example/.well-known/jwks.json", SSP_ISSUER,
                      f"https://{HOST}", httpx.Client(transport=httpx.MockTransport(handle)))


def route(sig: str, destination: str = DEST) -> dict[str, Any]:
    return {"destinationId": destination, "destinationSignature": sig, "destinationName": "Landkreis"}


def test_a_verified_route_names_the_destination() -> None:
    seen: list[httpx.Request] = []
    found = api(route(signature()), seen=seen).route(LEIKA, ARS)
    assert found.destination_id == DEST and found.submission_host == HOST
    assert dict(seen[0].url.params) == {"leikaKey": LEIKA, "ars": ARS, "offset": "0", "limit": "100"}


@pytest.mark.parametrize("sig", [
    pytest.param(signature(key=OTHER), id="signed-by-another-key"),
    pytest.param(signature(submissionHost="evil.example"), id="other-submission-host"),
    pytest.param(signature(iss="https://portal.example"), id="other-issuer"),
    pytest.param(signature(destinationId=str(uuid.uuid4())), id="other-destination"),
    pytest.param(signature(services=[{"gebietIDs": [GEBIET_RS + "15090"],
                                      "leistungIDs": [LEISTUNG + "99000000000000"]}]),
                 id="other-service"),
    pytest.param(signature(services=[{"gebietIDs": [GEBIET_RS + "16"], "leistungIDs": [LEISTUNG + LEIKA]}]),
                 id="other-area"),
    pytest.param(signature()[:-4] + "AAAA", id="tampered"),
    pytest.param("not.a.jws", id="garbage"),
])
def test_a_route_without_a_fitting_verified_signature_is_no_route(sig: str) -> None:
    with pytest.raises(NoRoute):
        api(route(sig)).route(LEIKA, ARS)


def test_two_destinations_for_one_service_and_area_are_refused() -> None:
    other = str(uuid.uuid4())
    with pytest.raises(NoRoute, match="more than one"):
        api(route(signature()), route(signature(destinationId=other), other)).route(LEIKA, ARS)


def test_bad_parameters_are_refused_before_any_request() -> None:
    seen: list[httpx.Request] = []
    for leika, ars in (("123", ARS), (LEIKA, "1509"), (LEIKA, "15090535053x")):
        with pytest.raises(NoRoute):
            api(seen=seen).route(leika, ars)
    assert seen == []


def test_areas_are_found_by_name() -> None:
    areas = api().areas(["Stendal*"])
    assert [(a.id, a.type) for a in areas] == [("15090", "Landkreis")]

"""The client over real HTTP: mutual TLS with the test PKI, and what it makes of broken servers."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.xta import samples
from adapters.xta.client import XtaClient
from adapters.xta.errors import XtaRequestRejected, XtaServerError
from adapters.xta.plugin import http_client, load_options
from adapters.xta.sandbox import pki
from adapters.xta.sandbox.app import create_app
from adapters.xta.soap import envelope, fault_envelope
from adapters.xta.testing import options
from tests.integration.xta.conftest import serve_tls
from tests.support.servers import free_port, serve_app

TLS = Path(__file__).resolve().parents[3] / "fixtures" / "xta" / "tls"


def _tls_client(url: str, cert: Path | None, key: Path | None, ca: Path) -> XtaClient:
    tls = {"cert": str(cert), "key": str(key), "ca": str(ca)} if cert else None
    if tls is None:
        http = httpx.Client(verify=ssl.create_default_context(cafile=str(ca)))
    else:
        http = http_client(load_options(options(url, insecure_http=False, tls=tls)), Path("/"))
    return XtaClient(url, samples.TOWN, http)


def test_mutual_tls_with_the_municipality_certificate(tmp_path: Path) -> None:
    other = tmp_path / "other-pki"
    pki.generate(other)
    with serve_tls(create_app()) as url:
        good = _tls_client(url, TLS / "client-tangerhuette.pem", TLS / "client-tangerhuette.key", TLS / "ca.pem")
        refused = {
            "no client certificate": _tls_client(url, None, None, TLS / "ca.pem"),
            "client certificate of another CA": _tls_client(
                url, other / "client-tangerhuette.pem", other / "client-tangerhuette.key", TLS / "ca.pem"),
            "server not trusted": _tls_client(
                url, TLS / "client-tangerhuette.pem", TLS / "client-tangerhuette.key", other / "ca.pem"),
        }
        try:
            assert good.check_account_active() is True
            for client in refused.values():
                with pytest.raises(XtaServerError, match="not reachable"):
                    client.check_account_active()
        finally:
            # open keep-alive connections would hold up the server's shutdown
            for client in [good, *refused.values()]:
                client.http.close()


def _server(respond: Callable[[bytes], Response]) -> Starlette:
    async def endpoint(request: Request) -> Response:
        return respond(await request.body())

    return Starlette(routes=[Route("/services/XTAService/{port}", endpoint, methods=["POST"])])


SOAP = "application/soap+xml"
CASES: dict[str, tuple[Callable[[bytes], Response], type[Exception], str]] = {
    "http-503": (lambda _: Response("busy", 503), XtaServerError, "HTTP 503"),
    "http-404": (lambda _: Response("no", 404), XtaServerError, "HTTP 404"),
    "garbage": (lambda _: Response(b"<html>oops", 200, media_type="text/html"), XtaServerError, "malformed"),
    "soap-1.1": (lambda _: Response(b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/">'
                                    b"<e:Body/></e:Envelope>", 200, media_type="text/xml"),
                 XtaServerError, "SOAP 1.1"),
    "wrong-relates-to": (lambda _: Response(envelope(action="a", message_id="urn:uuid:x", to=None,
                                                     relates_to="urn:uuid:someone-else"), 200, media_type=SOAP),
                         XtaServerError, "another request"),
    "receiver-fault": (lambda _: Response(fault_envelope(soap_code="Receiver", reason="down", relates_to=None),
                                          500, media_type=SOAP), XtaServerError, "Receiver"),
    "sender-fault": (lambda _: Response(fault_envelope(soap_code="Sender", reason="bad", relates_to=None),
                                        400, media_type=SOAP), XtaRequestRejected, "Sender"),
    "huge": (lambda _: Response(b"x" * 3_000_000, 200, media_type=SOAP), XtaServerError, "larger than"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_broken_server_answers_become_clear_errors(case: str) -> None:
    respond, error, message = CASES[case]
    with serve_app(_server(respond)) as url, httpx.Client() as http:
        client = XtaClient(url, samples.TOWN, http, max_response_bytes=2_000_000)
        with pytest.raises(error, match=message):
            client.get_status_list()


def test_unreachable_server_is_transient() -> None:
    with httpx.Client(timeout=2) as http:
        client = XtaClient(f"http://127.0.0.1:{free_port()}", samples.TOWN, http)
        with pytest.raises(XtaServerError, match="not reachable"):
            client.create_message_id()

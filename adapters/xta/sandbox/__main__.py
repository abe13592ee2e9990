"""Run the XTA sandbox standalone, optionally with mutual TLS (test PKI):

    python -m adapters.xta.sandbox [--port 8102] [--tls]

With ``--tls`` the server presents fixtures/xta/tls/server.pem and requires a client
certificate issued by the test CA (TEST ONLY).
"""

from __future__ import annotations

import argparse
import ssl
from typing import Any

import uvicorn

from adapters.xta.ns import PROJECT_ROOT
from adapters.xta.sandbox.app import create_app

TLS_DIR = PROJECT_ROOT / "fixtures" / "xta" / "tls"


def tls_config() -> dict[str, Any]:
    """uvicorn settings for mutual TLS with the test PKI."""
    return {"ssl_certfile": str(TLS_DIR / "server.pem"), "ssl_keyfile": str(TLS_DIR / "server.key"),
            "ssl_ca_certs": str(TLS_DIR / "ca.pem"), "ssl_cert_reqs": ssl.CERT_REQUIRED}


def main() -> None:
    parser = argparse.ArgumentParser(description="local XTA 2 Version 3 sandbox")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8102)
    parser.add_argument("--tls", action="store_true", help="mutual TLS with the test PKI (TEST ONLY)")
    args = parser.parse_args()
    uvicorn.run(create_app(), host=args.host, port=args.port, **(tls_config() if args.tls else {}))


if __name__ == "__main__":
    main()

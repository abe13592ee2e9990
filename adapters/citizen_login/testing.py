"""Helpers for the tests and the sandbox: the TEST-ONLY keys, a sandbox identity provider, and
options for one tenant registered with it. Nothing here is used in production paths."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from adapters.citizen_login.keys import Certificate, KeyPair

REPO = Path(__file__).resolve().parents[2]
KEYS = REPO / "fixtures" / "citizen_login" / "keys"
TENANT = "150905350535"
IDP_ENTITY_ID = "https://idp.sandbox.rathaus-gateway.invalid/idp"
ENTITY_ID_BASE = "https://rathaus-gateway.sandbox.invalid/saml/tangerhuette"
SESSION_KEY = "test-only-citizen-session-key-0123456789abcdef"


def key_pair(name: str) -> KeyPair:
    """A TEST-ONLY key pair from fixtures/citizen_login/keys (``sp-signing-2026``, ...)."""
    return KeyPair.load(KEYS / f"{name}.key.pem", KEYS / f"{name}.cert.pem")


def certificate(name: str) -> Certificate:
    return Certificate.from_pem((KEYS / f"{name}.cert.pem").read_bytes())


def key_files(name: str) -> dict[str, str]:
    return {"key": str(KEYS / f"{name}.key.pem"), "cert": str(KEYS / f"{name}.cert.pem")}


def idp_options(name: str = "sandbox", *, metadata_file: Path | None = None, metadata_url: str | None = None,
                **overrides: Any) -> dict[str, Any]:
    options: dict[str, Any] = {"name": name, "profile": "bundid", "entity_id": IDP_ENTITY_ID,
                               "online_service_id": "SANDBOX-ONLINE-SERVICE-0001"}
    if metadata_file is not None:
        options["metadata_file"] = str(metadata_file)
    if metadata_url is not None:
        options.update(metadata_url=metadata_url, insecure_http=True)
    options.update(overrides)
    return options


def login_options(public_base_url: str, return_origins: list[str], idps: list[dict[str, Any]],
                  **overrides: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "public_base_url": public_base_url, "session_signing_key": SESSION_KEY, "return_origins": return_origins,
        "tenants": [{"tenant_ars": TENANT, "entity_id_base": ENTITY_ID_BASE,
                     "organisation_display_name": "Einheitsgemeinde Stadt Tangerhütte",
                     "signing_keys": [key_files("sp-signing-2026"), key_files("sp-signing-2027")],
                     "encryption_keys": [key_files("sp-encryption-2026"), key_files("sp-encryption-2027")],
                     "identity_providers": idps}],
    }
    options.update(overrides)
    return options


class MemoryState:
    """An in-memory StateStore (unit tests only) with the same expiry rules as the real one."""

    def __init__(self, clock: Any = None) -> None:
        self._data: dict[tuple[str, str], tuple[dict[str, object], dt.datetime | None]] = {}
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))

    def get(self, namespace: str, key: str) -> dict[str, object] | None:
        found = self._data.get((namespace, key))
        if found is None or (found[1] is not None and found[1] <= self._clock()):
            return None
        return found[0]

    def put(self, namespace: str, key: str, value: dict[str, object]) -> None:
        self._data[(namespace, key)] = (value, None)

    def add(self, namespace: str, key: str, value: dict[str, object], ttl_seconds: float | None = None) -> bool:
        if self.get(namespace, key) is not None:
            return False
        expires = self._clock() + dt.timedelta(seconds=ttl_seconds) if ttl_seconds is not None else None
        self._data[(namespace, key)] = (value, expires)
        return True

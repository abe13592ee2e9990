"""A service provider registered with the sandbox identity provider, entirely in memory: a
login is started, and tests answer it with responses they build (and take apart)."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from lxml import etree

from adapters.citizen_login import attributes as a
from adapters.citizen_login import bindings
from adapters.citizen_login.keys import Certificate, KeyPair
from adapters.citizen_login.login import CitizenLogin, build
from adapters.citizen_login.options import CitizenLoginOptions
from adapters.citizen_login.sandbox import people
from adapters.citizen_login.sandbox.idp import SandboxIdp
from adapters.citizen_login.sandbox.responses import ResponseSpec, to_bytes
from adapters.citizen_login.sandbox.responses import build as build_response
from adapters.citizen_login.service import SamlLogin
from adapters.citizen_login.testing import (
    IDP_ENTITY_ID,
    REPO,
    TENANT,
    MemoryState,
    certificate,
    idp_options,
    key_pair,
    login_options,
)
from gateway import safexml
from gateway.case.model import TrustLevel

PORTAL = "https://portal.tangerhuette.test"
RETURN_TO = PORTAL + "/login/done"
NOW = dt.datetime(2026, 5, 4, 10, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass
class World:
    login: SamlLogin
    container: CitizenLogin
    idp_key: KeyPair
    sp_encryption: Certificate
    clock: Clock
    request_id: str
    relay: str
    request_xml: bytes

    def spec(self, **changes: Any) -> ResponseSpec:
        values = dict(people.account("erika").values)
        values[a.TRUST_LEVEL] = "STORK-QAA-Level-3"
        values[a.ASSERTION_PROVED_BY] = "Elster"
        spec = ResponseSpec(issuer=IDP_ENTITY_ID, audience=self.login.sp.entity_id, acs_url=self.login.sp.acs_url,
                            request_id=self.request_id, attributes=values, now=self.clock.now)
        return replace(spec, **changes)

    def response(self, spec: ResponseSpec | None = None, *, sign: bool = True, encrypt: bool = True) -> Any:
        return build_response(spec or self.spec(), self.idp_key if sign else None,
                              self.sp_encryption if encrypt else None)

    def fields(self, root: Any | bytes, relay: str | None = None) -> dict[str, str]:
        data = root if isinstance(root, bytes) else to_bytes(root)
        return {"SAMLResponse": base64.b64encode(data).decode(), "RelayState": relay or self.relay}

    def complete(self, root: Any | bytes, relay: str | None = None) -> Any:
        identity, _ = self.login.complete(self.fields(root, relay))
        return identity

    def restart(self, level: TrustLevel = TrustLevel.SUBSTANTIELL) -> None:
        step = self.login.begin(level, RETURN_TO)
        if step.fields:
            self.request_xml = base64.b64decode(step.fields["SAMLRequest"])
            self.relay = step.fields["RelayState"]
        else:  # HTTP-Redirect
            query = dict(parse_qsl(step.url.split("?", 1)[1]))
            self.request_xml = bindings.inflate(base64.b64decode(query["SAMLRequest"]))
            self.relay = query["RelayState"]
        self.request_id = safexml.parse(self.request_xml).get("ID")


def make_world(tmp_path: Path, *, idp_overrides: dict[str, Any] | None = None,
               idp_signing: str = "idp-sandbox-signing-2026") -> World:
    clock = Clock()
    idp = SandboxIdp(base_url="https://idp.sandbox.test", entity_id=IDP_ENTITY_ID,
                     signing=key_pair(idp_signing),
                     published=(certificate("idp-sandbox-signing-2026"), certificate("idp-sandbox-signing-2027")),
                     sp_metadata_urls=[])
    metadata = tmp_path / "idp-metadata.xml"
    metadata.write_bytes(idp.metadata())
    options = CitizenLoginOptions.model_validate(login_options(
        "https://gateway.tangerhuette.test", [PORTAL],
        [idp_options(metadata_file=metadata, **(idp_overrides or {}))]))
    container = build(options, REPO, MemoryState(clock), clock)
    world = World(login=container.login(TENANT, "sandbox"), container=container,
                  idp_key=key_pair("idp-sandbox-signing-2026"), sp_encryption=certificate("sp-encryption-2026"),
                  clock=clock, request_id="", relay="", request_xml=b"")
    world.restart()
    return world


@pytest.fixture
def world(tmp_path: Path) -> World:
    return make_world(tmp_path)


def first(root: Any, local: str) -> Any:
    return next(e for e in root.iter(etree.Element) if etree.QName(e).localname == local)


WorldFactory = Callable[..., World]

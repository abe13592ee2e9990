"""The identity provider's metadata: its endpoints and signing certificates, from a file or a
URL, refreshed on a schedule. Several signing certificates are kept at once (a key rollover
publishes the old and the new one); an assertion verifies if one of them fits.

A refresh that fails keeps the last good metadata (and logs the reason, without content); the
first load must succeed. If ``metadata_signing_certs`` are configured, the metadata's own
signature must verify with one of them.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from adapters.citizen_login import ns, xmldsig
from adapters.citizen_login.keys import Certificate
from adapters.citizen_login.options import IdentityProviderOptions
from gateway import safexml
from gateway.errors import ConfigurationError, GatewayError

log = logging.getLogger("adapters.citizen_login")


@dataclass(frozen=True)
class IdpMetadata:
    entity_id: str
    sso: dict[str, str]
    slo: dict[str, str]
    signing_certificates: tuple[Certificate, ...]


def _parse_datetime(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _entity(root: Any, entity_id: str) -> Any:
    if root.tag == ns.q(ns.MD, "EntityDescriptor"):
        candidates = [root]
    elif root.tag == ns.q(ns.MD, "EntitiesDescriptor"):
        candidates = list(root.iter(ns.q(ns.MD, "EntityDescriptor")))
    else:
        raise ValueError("not SAML metadata")
    found = [c for c in candidates if c.get("entityID") == entity_id]
    if len(found) != 1:
        raise ValueError("the metadata does not describe the configured entityID exactly once")
    return found[0]


def parse(data: bytes, entity_id: str, signers: tuple[Certificate, ...] = (),
          now: dt.datetime | None = None, max_bytes: int = 1024 * 1024) -> IdpMetadata:
    root = safexml.parse(data, max_bytes=max_bytes, max_depth=32)
    if signers:
        xmldsig.verify(root, signers, whole_document=True)
    now = now or dt.datetime.now(dt.UTC)
    entity = _entity(root, entity_id)
    for holder in (root, entity):
        valid_until = holder.get("validUntil")
        if valid_until and _parse_datetime(valid_until) <= now:
            raise ValueError("the metadata has expired (validUntil)")
    descriptors = entity.findall(ns.q(ns.MD, "IDPSSODescriptor"))
    if len(descriptors) != 1 or ns.SAMLP not in (descriptors[0].get("protocolSupportEnumeration") or "").split():
        raise ValueError("the metadata needs one IDPSSODescriptor for SAML 2.0")
    idp = descriptors[0]
    certificates = []
    for key_descriptor in idp.findall(ns.q(ns.MD, "KeyDescriptor")):
        if key_descriptor.get("use") not in (None, "signing"):
            continue
        for text in key_descriptor.iterfind(f".//{ns.q(ns.DS, 'X509Certificate')}"):
            certificates.append(Certificate.from_b64(text.text or ""))
    if not certificates:
        raise ValueError("the metadata names no signing certificate")
    for certificate in certificates:
        certificate.public_key()  # RSA >= 2048 bits only

    def endpoints(tag: str) -> dict[str, str]:
        found: dict[str, str] = {}
        for endpoint in idp.findall(ns.q(ns.MD, tag)):
            binding, location = endpoint.get("Binding"), endpoint.get("Location")
            if binding in (ns.BINDING_POST, ns.BINDING_REDIRECT) and location and binding not in found:
                found[binding] = location
        return found

    sso = endpoints("SingleSignOnService")
    if not sso:
        raise ValueError("the metadata names no SingleSignOnService for HTTP-POST or HTTP-Redirect")
    return IdpMetadata(entity_id=entity_id, sso=sso, slo=endpoints("SingleLogoutService"),
                       signing_certificates=tuple(certificates))


class MetadataSource:
    """The current metadata of one identity provider, reloaded when it is older than the
    configured interval (checked on use, so an idle gateway makes no requests)."""

    def __init__(self, options: IdentityProviderOptions, base_dir: Path, http: httpx.Client | None = None,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self._options = options
        self._base_dir = base_dir
        self._http = http
        self._clock = clock
        self._lock = threading.Lock()
        self._current: IdpMetadata | None = None
        self._loaded_at = 0.0
        self._signers = tuple(Certificate.from_pem((base_dir / p).read_bytes())
                              for p in options.metadata_signing_certs)

    def _fetch(self) -> bytes:
        options = self._options
        if options.metadata_file is not None:
            return (self._base_dir / options.metadata_file).read_bytes()
        assert options.metadata_url is not None
        http = self._http or httpx.Client(timeout=30, follow_redirects=False)
        try:
            with http.stream("GET", options.metadata_url) as response:
                response.raise_for_status()
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > options.metadata_max_bytes:
                        raise ValueError("the metadata exceeds its size limit")
                    chunks.append(chunk)
                return b"".join(chunks)
        finally:
            if self._http is None:
                http.close()

    def _load(self) -> IdpMetadata:
        return parse(self._fetch(), self._options.entity_id, self._signers, self._clock(),
                     self._options.metadata_max_bytes)

    def current(self) -> IdpMetadata:
        with self._lock:
            due = time.monotonic() - self._loaded_at >= self._options.metadata_refresh_seconds
            if self._current is None or due:
                try:
                    self._current = self._load()
                except (OSError, ValueError, httpx.HTTPError, GatewayError) as exc:
                    if self._current is None:
                        raise ConfigurationError(f"metadata of identity provider {self._options.name!r} cannot be "
                                                 f"loaded: {type(exc).__name__}: {exc}") from None
                    log.warning("refreshing the metadata of %s failed (%s); keeping the last good copy",
                                self._options.name, type(exc).__name__)
                self._loaded_at = time.monotonic()
            return self._current

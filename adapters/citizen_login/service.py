"""One service provider at work: start a login, finish it at the ACS, log out.

:class:`SamlLogin` fills the core's :class:`gateway.identity.IdentityProvider` port for one
tenant and identity provider. The browser's way back (``return_to``) must lie on a configured
portal origin; it is stored with the request and never taken from the identity provider's
answer — the ``RelayState`` sent along is a random token that only finds the stored request.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from adapters.citizen_login import bindings, messages, ns
from adapters.citizen_login.idp_metadata import MetadataSource
from adapters.citizen_login.pending import PendingLogin, PendingStore
from adapters.citizen_login.replay import ReplayCache
from adapters.citizen_login.response import Expectation, ResponseProcessor
from adapters.citizen_login.sp import ServiceProvider
from gateway.case.model import TrustLevel
from gateway.errors import InvalidRequest
from gateway.identity import BrowserStep, LoginIdentity, LoginRejected


def check_return_to(return_to: str, origins: list[str]) -> str:
    """``return_to`` must be an absolute URL on one of the configured portal origins."""
    parts = urlsplit(return_to)
    origin = f"{parts.scheme}://{parts.netloc}"
    if parts.scheme not in ("http", "https") or not parts.netloc or origin not in origins or "\\" in return_to:
        raise InvalidRequest("return_to must be a URL of a registered portal", allowed_origins=origins)
    return return_to


class SamlLogin:
    def __init__(self, sp: ServiceProvider, metadata: MetadataSource, pending: PendingStore, replay: ReplayCache,
                 *, return_origins: list[str], clock: Callable[[], dt.datetime], skew_seconds: float,
                 max_age_seconds: float, max_response_bytes: int) -> None:
        self.sp = sp
        self.name = sp.idp.name
        self.metadata = metadata
        self._pending = pending
        self._origins = return_origins
        self._clock = clock
        self._max_bytes = max_response_bytes
        self._processor = ResponseProcessor(sp, metadata.current, replay, clock, skew_seconds, max_age_seconds,
                                            max_response_bytes)

    def begin(self, minimum: TrustLevel, return_to: str) -> BrowserStep:
        check_return_to(return_to, self._origins)
        meta = self.metadata.current()
        prefer = ns.BINDING_POST if self.sp.idp.binding == "post" else ns.BINDING_REDIRECT
        binding = prefer if prefer in meta.sso else next(iter(meta.sso))
        request = messages.authn_request(self.sp, meta.sso[binding], minimum, self._clock())
        relay = secrets.token_urlsafe(24)
        self._pending.remember(PendingLogin(request_id=request.get("ID"), relay=relay, tenant_ars=self.sp.tenant_ars,
                                            idp=self.name, minimum=minimum.value, return_to=return_to,
                                            kind="login"))
        if binding == ns.BINDING_POST:
            return bindings.post(request, meta.sso[binding], "SAMLRequest", relay, self.sp.signing_key)
        return bindings.redirect(request, meta.sso[binding], "SAMLRequest", relay, self.sp.signing_key)

    def pending_for(self, form: Mapping[str, str], kind: str) -> PendingLogin:
        relay = form.get("RelayState")
        pending = self._pending.take(relay) if relay else None
        if pending is None or pending.kind != kind or pending.tenant_ars != self.sp.tenant_ars \
                or pending.idp != self.name:
            raise LoginRejected("the answer belongs to no login started here (unsolicited, replayed or expired)",
                                check="in-response-to")
        return pending

    def complete(self, form: Mapping[str, str]) -> tuple[LoginIdentity, str]:
        pending = self.pending_for(form, "login")
        data = bindings.b64decode(form.get("SAMLResponse", ""), self._max_bytes)
        identity = self._processor.process(data, Expectation(pending.request_id, TrustLevel(pending.minimum)))
        return identity, pending.return_to

    def complete_pending(self, pending: PendingLogin, form: Mapping[str, str]) -> LoginIdentity:
        data = bindings.b64decode(form.get("SAMLResponse", ""), self._max_bytes)
        return self._processor.process(data, Expectation(pending.request_id, TrustLevel(pending.minimum)))

    def logout(self, identity: LoginIdentity, return_to: str) -> BrowserStep | None:
        """A signed LogoutRequest to the identity provider if it offers single logout and the
        login named its subject; None: the local logout is all there is."""
        check_return_to(return_to, self._origins)
        meta = self.metadata.current()
        if not self.sp.idp.single_logout or not meta.slo or not identity.name_id:
            return None
        binding = ns.BINDING_REDIRECT if ns.BINDING_REDIRECT in meta.slo else ns.BINDING_POST
        request = messages.logout_request(self.sp, meta.slo[binding], identity.name_id, identity.name_id_format,
                                          identity.session_index, self._clock())
        relay = secrets.token_urlsafe(24)
        self._pending.remember(PendingLogin(request_id=request.get("ID"), relay=relay, tenant_ars=self.sp.tenant_ars,
                                            idp=self.name, minimum=identity.trust_level.value, return_to=return_to,
                                            kind="logout"))
        if binding == ns.BINDING_REDIRECT:
            return bindings.redirect(request, meta.slo[binding], "SAMLRequest", relay, self.sp.signing_key)
        return bindings.post(request, meta.slo[binding], "SAMLRequest", relay, self.sp.signing_key)

"""The identity-provider port: who logged in to a citizen or business account, at which
trust level, how the login was proved — and the errors a login can end in.

An adapter (``adapters/citizen_login`` for SAML 2.0: Servicekonto, BundID, Mein
Unternehmenskonto) fills :class:`IdentityProvider`. The core only sees :class:`LoginIdentity`
and hands it to :mod:`gateway.sessions`, which bounds how long it may be used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from gateway.case.model import AccountIdentity, TrustLevel
from gateway.errors import AuthenticationFailed, ClientError

PartyKind = Literal["natural_person", "organisation"]


@dataclass(frozen=True)
class LoginIdentity:
    """A verified login. ``attributes`` holds the normalised values by their short names
    (``given_name``, ``family_name``, ``organisation_name``, ...); it is personal data and
    never logged."""

    provider: str
    tenant_ars: str
    pseudonym: str
    trust_level: TrustLevel
    authn_context: str
    proved_by: str | None = None
    postbox_handle: str | None = None
    kind: PartyKind = "natural_person"
    attributes: Mapping[str, str] = field(default_factory=dict)
    # what a later single logout needs to name this login at the identity provider
    name_id: str | None = None
    name_id_format: str | None = None
    session_index: str | None = None

    def account(self) -> AccountIdentity:
        return AccountIdentity(provider=self.provider, pseudonym=self.pseudonym, trust_level=self.trust_level,
                               postbox_reference=self.postbox_handle, proved_by=self.proved_by,
                               authn_context=self.authn_context)


@dataclass(frozen=True)
class BrowserStep:
    """Where the browser goes next: a plain redirect (``fields`` empty) or a form that posts
    ``fields`` to ``url`` (the HTTP-POST binding)."""

    url: str
    fields: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class IdentityProvider(Protocol):
    """A login service the gateway is registered with for one tenant."""

    name: str

    def begin(self, minimum: TrustLevel, return_to: str) -> BrowserStep:
        """Start a login at ``minimum`` trust level; the browser comes back to ``return_to``."""
        ...

    def complete(self, form: Mapping[str, str]) -> tuple[LoginIdentity, str]:
        """Verify the identity provider's answer; the identity and where the browser returns.
        Raises :class:`LoginRejected` or :class:`LoginRefused`."""
        ...


class LoginRejected(ClientError):
    """The answer of an identity provider failed a check (signature, audience, time, replay,
    structure). The detail names the check, never a value from the message."""

    slug = "login-rejected"
    title = "The login response was rejected"
    status = 403


class LoginRefused(ClientError):
    """The identity provider answered that the login did not happen (cancelled, trust level not
    reached, attributes withheld). ``status_code`` and ``status_detail`` say what it reported;
    ``required`` names the trust level that was asked for."""

    slug = "login-refused"
    title = "The identity provider refused the login"
    status = 403


class CitizenSessionInvalid(AuthenticationFailed):
    slug = "citizen-session-invalid"
    title = "The citizen session is missing, invalid or expired"


__all__ = ["BrowserStep", "CitizenSessionInvalid", "IdentityProvider", "LoginIdentity", "LoginRefused",
           "LoginRejected", "PartyKind"]

"""Processing of a ``samlp:Response`` at the assertion consumer service, step by step:

1. shape (:mod:`structure`): safe parse, no comments, unique IDs, exactly one assertion where
   it belongs;
2. the response: ``Destination`` is our ACS, ``InResponseTo`` is the request we stored for this
   login (unsolicited responses are refused), ``Issuer`` is the identity provider, the
   ``IssueInstant`` is recent; a refusal status becomes :class:`LoginRefused`;
3. the response signature if there is one (required if configured);
4. decryption (required unless configured otherwise), then the shape checks again;
5. the assertion's signature with the identity provider's certificates from metadata;
6. the assertion: issuer, subject confirmation (bearer, ``Recipient``, ``InResponseTo``, times),
   conditions (times with the configured clock skew, our entityID as audience), one
   authentication statement whose STORK level meets the requested minimum;
7. attributes by Name (see :mod:`attributes`), the trust attribute agreeing with the context;
8. the replay cache: the assertion ID is accepted once while the assertion is valid.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from adapters.citizen_login import attributes, ns, structure, xmldsig, xmlenc
from adapters.citizen_login.idp_metadata import IdpMetadata
from adapters.citizen_login.replay import ReplayCache
from adapters.citizen_login.sp import ServiceProvider
from gateway.case.model import TrustLevel
from gateway.identity import LoginIdentity, LoginRefused, LoginRejected

_STATUS_TEXT_CHARS = 300


@dataclass(frozen=True)
class Expectation:
    """What the answer must match: the request we sent and the level we asked for."""

    request_id: str
    minimum: TrustLevel


def _reject(reason: str, check: str) -> LoginRejected:
    return LoginRejected(reason, check=check)


def _time(value: str | None, what: str) -> dt.datetime:
    if not value:
        raise _reject(f"{what} is missing", "time")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _reject(f"{what} is not a valid date and time", "time") from None
    if parsed.tzinfo is None:
        raise _reject(f"{what} needs a time zone", "time")
    return parsed


def _text(element: Any, what: str) -> str:
    """The text of a leaf element; child elements (mixed content) are refused."""
    if len(element):
        raise _reject(f"{what} must hold text only", "attribute-value")
    return element.text or ""


def _children(parent: Any, namespace: str, local: str) -> list[Any]:
    return list(parent.findall(ns.q(namespace, local)))


def _plain(value: str | None) -> str:
    """A short printable excerpt of what an identity provider reported (shown, never trusted)."""
    text = " ".join((value or "").split())[:_STATUS_TEXT_CHARS]
    return "".join(ch for ch in text if ch.isprintable())


class ResponseProcessor:
    def __init__(self, sp: ServiceProvider, metadata: Callable[[], IdpMetadata], replay: ReplayCache,
                 clock: Callable[[], dt.datetime], skew_seconds: float, max_age_seconds: float,
                 max_bytes: int) -> None:
        self._sp = sp
        self._metadata = metadata
        self._replay = replay
        self._clock = clock
        self._skew = dt.timedelta(seconds=skew_seconds)
        self._max_age = dt.timedelta(seconds=max_age_seconds)
        self._max_bytes = max_bytes

    # -- the response -----------------------------------------------------------------------
    def process(self, data: bytes, expected: Expectation) -> LoginIdentity:
        now = self._clock()
        metadata = self._metadata()
        root = structure.parse_response(data, self._max_bytes)
        if root.get("Destination") != self._sp.acs_url:
            raise _reject("the response is not addressed to this assertion consumer service", "destination")
        in_response_to = root.get("InResponseTo")
        if not in_response_to:
            raise _reject("unsolicited responses are not accepted", "in-response-to")
        if in_response_to != expected.request_id:
            raise _reject("the response does not answer the request of this login", "in-response-to")
        self._issuer(root, metadata, required=False)
        issued = _time(root.get("IssueInstant"), "the response's IssueInstant")
        if issued > now + self._skew or issued < now - self._max_age - self._skew:
            raise _reject("the response was not issued recently", "time")
        self._status(root, expected)
        assertion = structure.the_assertion(root)
        signature = xmldsig.enveloped_signature(root)
        if signature is not None or self._sp.idp.require_signed_response:
            xmldsig.verify(root, metadata.signing_certificates)
        if assertion.tag == ns.q(ns.SAML, "EncryptedAssertion"):
            assertion = xmlenc.decrypt_assertion(assertion, self._sp.encryption_keys)
            structure.check_decrypted(root, assertion)
        elif self._sp.idp.require_encrypted_assertions:
            raise _reject("the assertion must be encrypted", "encryption-required")
        xmldsig.verify(assertion, metadata.signing_certificates)
        return self._assertion(assertion, metadata, expected, now)

    def _issuer(self, element: Any, metadata: IdpMetadata, required: bool) -> None:
        issuers = _children(element, ns.SAML, "Issuer")
        if not issuers and not required:
            return
        if len(issuers) != 1 or _text(issuers[0], "Issuer").strip() != metadata.entity_id:
            raise _reject("the issuer is not the configured identity provider", "issuer")
        if issuers[0].get("Format") not in (None, "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"):
            raise _reject("the issuer's format is not an entity", "issuer")

    def _status(self, root: Any, expected: Expectation) -> None:
        statuses = _children(root, ns.SAMLP, "Status")
        codes = statuses[0].findall(ns.q(ns.SAMLP, "StatusCode")) if len(statuses) == 1 else []
        if len(codes) != 1:
            raise _reject("the response needs exactly one status", "status")
        top = codes[0].get("Value")
        if top == ns.STATUS_SUCCESS:
            return
        second = codes[0].find(ns.q(ns.SAMLP, "StatusCode"))
        message = statuses[0].find(ns.q(ns.SAMLP, "StatusMessage"))
        detail = statuses[0].find(ns.q(ns.SAMLP, "StatusDetail"))
        detail_text = " ".join(_plain(" ".join(e.itertext())) for e in detail) if detail is not None else ""
        second_value = second.get("Value") if second is not None else None
        reason = {
            "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext":
                f"the identity provider could not log in at trust level {expected.minimum.value} or higher",
            "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed": "the login was cancelled or failed",
            "urn:oasis:names:tc:SAML:2.0:status:RequestDenied": "the identity provider denied the login",
        }.get(second_value or "", "the identity provider reported an error")
        raise LoginRefused(reason, status_code=_plain(top), sub_status_code=_plain(second_value),
                           status_message=_plain(message.text if message is not None else None),
                           status_detail=_plain(detail_text), required=expected.minimum.value,
                           identity_provider=self._sp.idp.name)

    # -- the assertion ------------------------------------------------------------------------
    def _assertion(self, assertion: Any, metadata: IdpMetadata, expected: Expectation,
                   now: dt.datetime) -> LoginIdentity:
        if assertion.get("Version") != "2.0" or not assertion.get("ID"):
            raise _reject("the assertion is not a SAML 2.0 assertion with an ID", "structure")
        self._issuer(assertion, metadata, required=True)
        name_id, name_format, confirmed_until = self._subject(assertion, expected, now)
        valid_until = self._conditions(assertion, now)
        level, context, session_index = self._authn_statement(assertion, expected)
        values, trust_values = self._attribute_values(assertion)
        identity = self._identity(values, trust_values, level, context, name_id, name_format, session_index)
        lifetime = (min(valid_until, confirmed_until) - now + self._skew).total_seconds()
        if not self._replay.first_use(metadata.entity_id, assertion.get("ID"), lifetime):
            raise _reject("this assertion was already used", "replay")
        return identity

    def _subject(self, assertion: Any, expected: Expectation, now: dt.datetime
                 ) -> tuple[str | None, str | None, dt.datetime]:
        subjects = _children(assertion, ns.SAML, "Subject")
        if len(subjects) != 1:
            raise _reject("the assertion needs exactly one subject", "subject")
        names = _children(subjects[0], ns.SAML, "NameID")
        if len(names) > 1:
            raise _reject("the subject has more than one NameID", "subject")
        name_id = attributes.clean(_text(names[0], "NameID"), "NameID") if names else None
        name_format = names[0].get("Format") if names else None
        bearer = [c for c in _children(subjects[0], ns.SAML, "SubjectConfirmation") if c.get("Method") == ns.BEARER]
        if len(bearer) != 1:
            raise _reject("the subject needs exactly one bearer confirmation", "subject-confirmation")
        data = _children(bearer[0], ns.SAML, "SubjectConfirmationData")
        if len(data) != 1:
            raise _reject("the bearer confirmation needs its data", "subject-confirmation")
        confirmation = data[0]
        if confirmation.get("Recipient") != self._sp.acs_url:
            raise _reject("the assertion's Recipient is not this assertion consumer service", "recipient")
        if confirmation.get("InResponseTo") != expected.request_id:
            raise _reject("the assertion does not answer the request of this login", "in-response-to")
        until = _time(confirmation.get("NotOnOrAfter"), "the confirmation's NotOnOrAfter")
        if now >= until + self._skew:
            raise _reject("the assertion's confirmation has expired", "time")
        if confirmation.get("NotBefore") and now + self._skew < _time(confirmation.get("NotBefore"), "NotBefore"):
            raise _reject("the assertion's confirmation is not yet valid", "time")
        return name_id, name_format, until

    def _conditions(self, assertion: Any, now: dt.datetime) -> dt.datetime:
        conditions = _children(assertion, ns.SAML, "Conditions")
        if len(conditions) != 1:
            raise _reject("the assertion needs exactly one Conditions element", "conditions")
        cond = conditions[0]
        not_before = cond.get("NotBefore")
        if not_before and now + self._skew < _time(not_before, "NotBefore"):
            raise _reject("the assertion is not yet valid", "time")
        until = _time(cond.get("NotOnOrAfter"), "the assertion's NotOnOrAfter")
        if now >= until + self._skew:
            raise _reject("the assertion has expired", "time")
        restrictions = _children(cond, ns.SAML, "AudienceRestriction")
        if not restrictions:
            raise _reject("the assertion names no audience", "audience")
        for restriction in restrictions:  # each restriction must admit us (SAML core 2.5.1.4)
            audiences = [_text(a, "Audience").strip() for a in _children(restriction, ns.SAML, "Audience")]
            if self._sp.entity_id not in audiences:
                raise _reject("the assertion is meant for another audience", "audience")
        for child in cond:
            if child.tag not in (ns.q(ns.SAML, "AudienceRestriction"), ns.q(ns.SAML, "OneTimeUse"),
                                 ns.q(ns.SAML, "ProxyRestriction")):
                raise _reject("the assertion has a condition this service provider does not understand",
                              "conditions")
        return until

    def _authn_statement(self, assertion: Any, expected: Expectation) -> tuple[TrustLevel, str, str | None]:
        statements = _children(assertion, ns.SAML, "AuthnStatement")
        if len(statements) != 1:
            raise _reject("the assertion needs exactly one authentication statement", "authn-context")
        refs = statements[0].findall(f"{ns.q(ns.SAML, 'AuthnContext')}/{ns.q(ns.SAML, 'AuthnContextClassRef')}")
        if len(refs) != 1:
            raise _reject("the authentication statement needs one context class", "authn-context")
        context = _text(refs[0], "AuthnContextClassRef").strip()
        if context not in ns.STORK_LEVELS:
            raise _reject("the authentication context is not a STORK-QAA level", "authn-context")
        level = attributes.trust_level(context)
        assert level is not None
        if level.rank < expected.minimum.rank:
            raise _reject(f"the login reached trust level {level.value}, below the requested "
                          f"{expected.minimum.value}", "trust-level")
        return level, context, statements[0].get("SessionIndex")

    def _attribute_values(self, assertion: Any) -> tuple[dict[str, str], dict[str, str]]:
        values: dict[str, str] = {}
        trust: dict[str, str] = {}
        for statement in _children(assertion, ns.SAML, "AttributeStatement"):
            for attribute in statement:
                if attribute.tag == ns.q(ns.SAML, "EncryptedAttribute"):
                    raise _reject("encrypted attributes are not supported", "attribute-value")
                if attribute.tag != ns.q(ns.SAML, "Attribute"):
                    raise _reject("unexpected element in the attribute statement", "attribute-value")
                name = (attribute.get("Name") or "").strip()
                if not name or name in values:
                    raise _reject("an attribute without a Name, or with the same Name twice", "attribute-name")
                entries = _children(attribute, ns.SAML, "AttributeValue")
                if len(entries) != 1 or len(attribute) != 1:
                    raise _reject("each attribute needs exactly one value", "attribute-value")
                values[name] = attributes.clean(_text(entries[0], "AttributeValue").strip(), name)
                declared = attribute.get(ns.q(ns.AKDB, "TrustLevel"))
                if declared:
                    if attributes.trust_level(declared) is None:
                        raise _reject("an attribute's trust value is not a known spelling", "attribute-trust")
                    trust[name] = declared
        return values, trust

    def _identity(self, values: dict[str, str], trust: dict[str, str], level: TrustLevel, context: str,
                  name_id: str | None, name_format: str | None, session_index: str | None) -> LoginIdentity:
        idp = self._sp.idp
        pseudonym = values.get(idp.pseudonym_attribute)
        if not pseudonym:
            raise _reject("the assertion carries no pseudonym", "pseudonym")
        declared = values.get(attributes.TRUST_LEVEL)
        if declared is not None and attributes.trust_level(declared) != level:
            raise _reject("the trust level attribute contradicts the authentication context", "trust-level")
        postbox = values.get(attributes.POSTBOX_HANDLE)
        names = {**attributes.SHORT_NAMES, **{oid: short for short, oid in idp.extra_attributes.items()}}
        kept = {names[oid]: value for oid, value in values.items()
                if oid in names and oid not in (attributes.TRUST_LEVEL, attributes.POSTBOX_HANDLE)}
        return LoginIdentity(
            provider=idp.name, tenant_ars=self._sp.tenant_ars, pseudonym=pseudonym, trust_level=level,
            authn_context=context, proved_by=values.get(attributes.ASSERTION_PROVED_BY),
            postbox_handle=attributes.postbox_handle(postbox) if postbox else None, kind=idp.party,
            attributes=kept, name_id=name_id, name_id_format=name_format, session_index=session_index)


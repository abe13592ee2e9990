"""The messages the service provider sends: AuthnRequest (with the BundID request extension)
and LogoutRequest. Elements come out unsigned; :mod:`bindings` signs them for the binding used.

The BundID extension follows the shape published SPs send for release 10.x (sources in
README.md): ``akdb:AuthenticationRequest Version="2"`` (namespace
``https://www.akdb.de/request/2018/09``) with ``EnableStatusDetail``, then ``AuthnMethods``
(optional), ``RequestedAttributes`` and ``DisplayInformation`` whose ``classic-ui:Version``
(namespace ``.../classic-ui/v1``) holds ``OrganizationDisplayName``, ``Lang`` and
``OnlineServiceId``. It goes into ``samlp:Extensions``, which SAML core 3.2.1 places right after
``Issuer``/``Signature`` and before ``RequestedAuthnContext``.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from lxml import etree

from adapters.citizen_login import attributes, ns
from adapters.citizen_login.options import RequestedAttribute
from adapters.citizen_login.sp import ServiceProvider
from gateway.case.model import TrustLevel

DEFAULT_ATTRIBUTES = (
    RequestedAttribute(name=attributes.BPK2, required=True),
    RequestedAttribute(name=attributes.TRUST_LEVEL),
    RequestedAttribute(name=attributes.ASSERTION_PROVED_BY),
    RequestedAttribute(name=attributes.POSTBOX_HANDLE),
    RequestedAttribute(name=attributes.GIVEN_NAME),
    RequestedAttribute(name=attributes.SURNAME),
    RequestedAttribute(name=attributes.MAIL),
    RequestedAttribute(name=attributes.POSTAL_ADDRESS),
    RequestedAttribute(name=attributes.POSTAL_CODE),
    RequestedAttribute(name=attributes.LOCALITY),
    RequestedAttribute(name=attributes.COUNTRY),
    RequestedAttribute(name=attributes.BIRTH_DATE),
    RequestedAttribute(name=attributes.PLACE_OF_BIRTH),
)


def new_id() -> str:
    """An xs:ID (an NCName: it must not start with a digit) with 160 random bits."""
    return "_" + secrets.token_hex(20)


def instant(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sub(parent: Any, namespace: str, tag: str, text: str | None = None, **attrs: str) -> Any:
    element = etree.SubElement(parent, ns.q(namespace, tag), **attrs)
    if text is not None:
        element.text = text
    return element


def akdb_extension(sp: ServiceProvider) -> Any:
    idp = sp.idp
    request = etree.Element(ns.q(ns.AKDB, "AuthenticationRequest"), nsmap={"akdb": ns.AKDB}, Version="2")
    if idp.enable_status_detail:
        request.set("EnableStatusDetail", "true")
    if idp.authn_methods:
        methods = _sub(request, ns.AKDB, "AuthnMethods")
        for method, enabled in idp.authn_methods.items():
            _sub(_sub(methods, ns.AKDB, method), ns.AKDB, "Enabled", "true" if enabled else "false")
    requested = _sub(request, ns.AKDB, "RequestedAttributes")
    for attribute in idp.requested_attributes or DEFAULT_ATTRIBUTES:
        _sub(requested, ns.AKDB, "RequestedAttribute", Name=attribute.name,
             RequiredAttribute="true" if attribute.required else "false")
    display = _sub(request, ns.AKDB, "DisplayInformation")
    version = etree.SubElement(display, ns.q(ns.CLASSIC_UI, "Version"), nsmap={"classic-ui": ns.CLASSIC_UI})
    _sub(version, ns.CLASSIC_UI, "OrganizationDisplayName", sp.display_name)
    _sub(version, ns.CLASSIC_UI, "Lang", "de")
    if idp.online_service_id:
        _sub(version, ns.CLASSIC_UI, "OnlineServiceId", idp.online_service_id)
    return request


def authn_request(sp: ServiceProvider, destination: str, minimum: TrustLevel, now: dt.datetime) -> Any:
    request = etree.Element(ns.q(ns.SAMLP, "AuthnRequest"), nsmap={"samlp": ns.SAMLP, "saml": ns.SAML},
                            ID=new_id(), Version="2.0", IssueInstant=instant(now), Destination=destination,
                            AssertionConsumerServiceURL=sp.acs_url, ProtocolBinding=ns.BINDING_POST)
    _sub(request, ns.SAML, "Issuer", sp.entity_id)
    if sp.idp.profile == "bundid":
        _sub(request, ns.SAMLP, "Extensions").append(akdb_extension(sp))
    context = _sub(request, ns.SAMLP, "RequestedAuthnContext", Comparison="minimum")
    _sub(context, ns.SAML, "AuthnContextClassRef", attributes.STORK_FOR[minimum])
    return request


def logout_request(sp: ServiceProvider, destination: str, name_id: str, name_id_format: str | None,
                   session_index: str | None, now: dt.datetime) -> Any:
    request = etree.Element(ns.q(ns.SAMLP, "LogoutRequest"), nsmap={"samlp": ns.SAMLP, "saml": ns.SAML},
                            ID=new_id(), Version="2.0", IssueInstant=instant(now), Destination=destination)
    _sub(request, ns.SAML, "Issuer", sp.entity_id)
    name = _sub(request, ns.SAML, "NameID", name_id)
    if name_id_format:
        name.set("Format", name_id_format)
    if session_index:
        _sub(request, ns.SAMLP, "SessionIndex", session_index)
    return request

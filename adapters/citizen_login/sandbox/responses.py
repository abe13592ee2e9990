"""SAML responses as the identity-provider sandbox issues them — like BundID's: the assertion
signed with RSASSA-PSS (SHA-256, MGF1) and encrypted with AES-256-GCM under RSA-OAEP — and
refusals with a status detail. Tests use :class:`ResponseSpec` to build well-formed answers and
then take them apart (``sign=False``, ``encrypt=False``, a hook to edit the assertion before it
is signed, ...).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from adapters.citizen_login import attributes, ns, xmldsig, xmlenc
from adapters.citizen_login.keys import Certificate, KeyPair
from adapters.citizen_login.messages import instant, new_id

XSI_TYPE = ns.q(ns.XSI, "type")


@dataclass
class ResponseSpec:
    """Everything a response states; defaults give a valid answer to ``request_id``."""

    issuer: str
    audience: str
    acs_url: str
    request_id: str | None
    attributes: dict[str, str]
    level: str = "STORK-QAA-Level-3"
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    valid_for: dt.timedelta = dt.timedelta(minutes=5)
    name_id: str = field(default_factory=new_id)
    session_index: str = field(default_factory=new_id)
    attribute_trust: dict[str, str] = field(default_factory=dict)
    signature_method: str = ns.RSA_PSS_SHA256
    content_encryption: str = ns.AES256_GCM
    key_transport: str = ns.RSA_OAEP
    sign_response: bool = False
    edit_assertion: Callable[[Any], None] | None = None


def _sub(parent: Any, namespace: str, tag: str, text: str | None = None, **attrs: str) -> Any:
    element = etree.SubElement(parent, ns.q(namespace, tag), **attrs)
    if text is not None:
        element.text = text
    return element


def response_root(spec: ResponseSpec) -> Any:
    root = etree.Element(ns.q(ns.SAMLP, "Response"), nsmap={"samlp": ns.SAMLP, "saml": ns.SAML},
                         ID=new_id(), Version="2.0", IssueInstant=instant(spec.now), Destination=spec.acs_url)
    if spec.request_id is not None:
        root.set("InResponseTo", spec.request_id)
    _sub(root, ns.SAML, "Issuer", spec.issuer)
    return root


def assertion(spec: ResponseSpec) -> Any:
    until = instant(spec.now + spec.valid_for)
    element = etree.Element(ns.q(ns.SAML, "Assertion"), nsmap={"saml": ns.SAML, "xsi": ns.XSI, "xs": ns.XS,
                                                               "akdb": ns.AKDB},
                            ID=new_id(), Version="2.0", IssueInstant=instant(spec.now))
    _sub(element, ns.SAML, "Issuer", spec.issuer)
    subject = _sub(element, ns.SAML, "Subject")
    _sub(subject, ns.SAML, "NameID", spec.name_id, Format=ns.NAMEID_TRANSIENT, SPNameQualifier=spec.audience)
    confirmation = _sub(subject, ns.SAML, "SubjectConfirmation", Method=ns.BEARER)
    data = _sub(confirmation, ns.SAML, "SubjectConfirmationData", NotOnOrAfter=until, Recipient=spec.acs_url)
    if spec.request_id is not None:
        data.set("InResponseTo", spec.request_id)
    conditions = _sub(element, ns.SAML, "Conditions", NotBefore=instant(spec.now - dt.timedelta(seconds=5)),
                      NotOnOrAfter=until)
    _sub(_sub(conditions, ns.SAML, "AudienceRestriction"), ns.SAML, "Audience", spec.audience)
    statement = _sub(element, ns.SAML, "AuthnStatement", AuthnInstant=instant(spec.now),
                     SessionIndex=spec.session_index)
    _sub(_sub(statement, ns.SAML, "AuthnContext"), ns.SAML, "AuthnContextClassRef", spec.level)
    values = _sub(element, ns.SAML, "AttributeStatement")
    for name, value in spec.attributes.items():
        attribute = _sub(values, ns.SAML, "Attribute", Name=name, NameFormat=ns.ATTRNAME_URI,
                         FriendlyName=attributes.SHORT_NAMES.get(name, "attribute"))
        if name in spec.attribute_trust:
            attribute.set(ns.q(ns.AKDB, "TrustLevel"), spec.attribute_trust[name])
        _sub(attribute, ns.SAML, "AttributeValue", value, **{XSI_TYPE: "xs:string"})
    return element


def build(spec: ResponseSpec, signer: KeyPair | None, recipient: Certificate | None) -> Any:
    """The response element: the assertion signed by ``signer`` (unless None) and encrypted
    for ``recipient`` (unless None)."""
    root = response_root(spec)
    _sub(_sub(root, ns.SAMLP, "Status"), ns.SAMLP, "StatusCode", Value=ns.STATUS_SUCCESS)
    element = assertion(spec)
    root.append(element)
    if spec.edit_assertion is not None:
        spec.edit_assertion(element)
    if signer is not None:
        xmldsig.sign(element, signer, spec.signature_method)
    if recipient is not None:
        wrapper = _sub(root, ns.SAML, "EncryptedAssertion")
        wrapper.append(element)
        xmlenc.encrypt_element(element, recipient, content=spec.content_encryption, transport=spec.key_transport)
    if spec.sign_response and signer is not None:
        xmldsig.sign(root, signer, spec.signature_method)
    return root


def refusal(spec: ResponseSpec, second_level: str, message: str, detail: str) -> Any:
    """A refusal as BundID sends it with ``EnableStatusDetail``: status code, message and a
    status detail (its inner shape is not published; the sandbox uses one text element)."""
    root = response_root(spec)
    status = _sub(root, ns.SAMLP, "Status")
    code = _sub(status, ns.SAMLP, "StatusCode", Value="urn:oasis:names:tc:SAML:2.0:status:Responder")
    _sub(code, ns.SAMLP, "StatusCode", Value=second_level)
    _sub(status, ns.SAMLP, "StatusMessage", message)
    detail_element = _sub(status, ns.SAMLP, "StatusDetail")
    etree.SubElement(detail_element, ns.q(ns.AKDB, "ErrorDescription"), nsmap={"akdb": ns.AKDB}).text = detail
    return root


def to_bytes(root: Any) -> bytes:
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))

"""The service provider's metadata, served at a stable URL for the identity provider.

As the BundID registration asks (see README.md): the entityID is an https URL without a port,
the EntityDescriptor carries neither ``validUntil`` nor an ``ID``; the signing and encryption
certificates are listed (two of each during a rollover); requests are signed, assertions must be
signed; the assertion consumer service takes HTTP-POST.
"""

from __future__ import annotations

from lxml import etree

from adapters.citizen_login import ns
from adapters.citizen_login.keys import KeyPair
from adapters.citizen_login.sp import ServiceProvider

_ENCRYPTION_METHODS = (ns.AES256_GCM, ns.AES128_GCM, ns.AES256_CBC, ns.AES128_CBC, ns.RSA_OAEP, ns.RSA_OAEP_MGF1P)


def _key_descriptor(parent: etree._Element, use: str, pair: KeyPair) -> None:
    descriptor = etree.SubElement(parent, ns.q(ns.MD, "KeyDescriptor"), use=use)
    key_info = etree.SubElement(descriptor, ns.q(ns.DS, "KeyInfo"))
    x509_data = etree.SubElement(key_info, ns.q(ns.DS, "X509Data"))
    etree.SubElement(x509_data, ns.q(ns.DS, "X509Certificate")).text = pair.certificate.b64
    if use == "encryption":
        for algorithm in _ENCRYPTION_METHODS:
            etree.SubElement(descriptor, ns.q(ns.MD, "EncryptionMethod"), Algorithm=algorithm)


def render(sp: ServiceProvider) -> bytes:
    root = etree.Element(ns.q(ns.MD, "EntityDescriptor"), nsmap={"md": ns.MD, "ds": ns.DS},
                         entityID=sp.entity_id)
    descriptor = etree.SubElement(root, ns.q(ns.MD, "SPSSODescriptor"), AuthnRequestsSigned="true",
                                  WantAssertionsSigned="true", protocolSupportEnumeration=ns.SAMLP)
    for pair in sp.signing_keys:
        _key_descriptor(descriptor, "signing", pair)
    for pair in sp.encryption_keys:
        _key_descriptor(descriptor, "encryption", pair)
    if sp.idp.single_logout:
        for binding in (ns.BINDING_POST, ns.BINDING_REDIRECT):
            etree.SubElement(descriptor, ns.q(ns.MD, "SingleLogoutService"), Binding=binding, Location=sp.slo_url)
    etree.SubElement(descriptor, ns.q(ns.MD, "NameIDFormat")).text = ns.NAMEID_TRANSIENT
    etree.SubElement(descriptor, ns.q(ns.MD, "AssertionConsumerService"), Binding=ns.BINDING_POST,
                     Location=sp.acs_url, index="0", isDefault="true")
    organisation = etree.SubElement(root, ns.q(ns.MD, "Organization"))
    for tag in ("OrganizationName", "OrganizationDisplayName"):
        etree.SubElement(organisation, ns.q(ns.MD, tag), {"{http://www.w3.org/XML/1998/namespace}lang": "de"}
                         ).text = sp.display_name
    etree.SubElement(organisation, ns.q(ns.MD, "OrganizationURL"),
                     {"{http://www.w3.org/XML/1998/namespace}lang": "de"}).text = sp.base_url
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))

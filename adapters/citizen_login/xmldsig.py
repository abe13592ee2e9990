"""Enveloped XML signatures through python-xmlsec (libxmlsec1), with the checks the library
leaves to its caller.

Verification accepts a signature only if it is the direct child of the element it signs and
has exactly one reference, to exactly that element's ``ID`` — so the element that was
verified is the element that is read (no signature wrapping). Algorithms are allow-listed
before libxmlsec1 sees the signature (RSA-SHA256, RSASSA-PSS with SHA-256/MGF1; SHA-256
digests; exclusive canonicalisation): SHA-1, HMAC, XPath/XSLT transforms and ``ds:Object``
are refused. The key is always one of the identity provider's certificates from configured
metadata; ``ds:KeyInfo`` is removed before verifying, so nothing in the message can choose it.
The caller must have refused duplicate IDs in the document first (see ``structure.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import xmlsec
from lxml import etree

from adapters.citizen_login import ns
from adapters.citizen_login.keys import Certificate, KeyPair
from gateway.identity import LoginRejected

_C = xmlsec.constants
# python-xmlsec has no constant for RSASSA-PSS, so libxmlsec1's own allow-list can only be
# narrowed for RSA-SHA256 signatures; the algorithm checks below apply to both.
_NARROWABLE = {ns.RSA_SHA256: _C.TransformRsaSha256}


def _reject(reason: str, check: str) -> LoginRejected:
    return LoginRejected(reason, check=check)


def _one(parent: Any, tag: str, what: str) -> Any:
    found = [child for child in parent if child.tag == tag]
    if len(found) != 1:
        raise _reject(f"the signature needs exactly one {what}", "signature-structure")
    return found[0]


def _algorithm(element: Any, allowed: frozenset[str], what: str) -> str:
    algorithm = element.get("Algorithm") or ""
    if algorithm not in allowed:
        raise _reject(f"{what} algorithm is not accepted", "algorithm")
    # parameters such as HMACOutputLength or an XPath are never needed by what we accept,
    # except exclusive c14n's InclusiveNamespaces prefix list
    if not all(isinstance(child.tag, str) and child.tag.endswith("}InclusiveNamespaces") for child in element):
        raise _reject(f"{what} carries parameters that are not accepted", "algorithm")
    return algorithm


def enveloped_signature(element: Any) -> Any | None:
    """The ``ds:Signature`` that is a direct child of ``element`` (None if there is none; more
    than one is refused)."""
    signatures = [child for child in element if child.tag == ns.q(ns.DS, "Signature")]
    if len(signatures) > 1:
        raise _reject("more than one signature on one element", "signature-structure")
    return signatures[0] if signatures else None


def check_signature_shape(element: Any, signature: Any, *, whole_document: bool = False) -> str:
    """Structure and algorithms of ``signature`` (enveloped in ``element``); its method.
    ``whole_document``: a reference ``URI=""`` is also accepted when ``element`` is the root
    (signed metadata often signs the whole document)."""
    element_id = element.get("ID") or ""
    is_root = element.getparent() is None
    if not element_id and not (whole_document and is_root):
        raise _reject("a signed element needs an ID", "signature-reference")
    signed_info = _one(signature, ns.q(ns.DS, "SignedInfo"), "SignedInfo")
    _one(signature, ns.q(ns.DS, "SignatureValue"), "SignatureValue")
    for child in signature:
        if child.tag not in (ns.q(ns.DS, "SignedInfo"), ns.q(ns.DS, "SignatureValue"), ns.q(ns.DS, "KeyInfo")):
            raise _reject("the signature holds an element that is not accepted (e.g. ds:Object)",
                          "signature-structure")
    _algorithm(_one(signed_info, ns.q(ns.DS, "CanonicalizationMethod"), "CanonicalizationMethod"),
               ns.C14N_METHODS, "canonicalisation")
    method = _algorithm(_one(signed_info, ns.q(ns.DS, "SignatureMethod"), "SignatureMethod"),
                        ns.SIGNATURE_METHODS, "signature")
    reference = _one(signed_info, ns.q(ns.DS, "Reference"), "Reference")
    uri = reference.get("URI")
    if not ((element_id and uri == "#" + element_id) or (whole_document and is_root and uri == "")):
        raise _reject("the signature does not reference the element it is enveloped in", "signature-reference")
    transforms = [t for t in reference if t.tag == ns.q(ns.DS, "Transforms")]
    seen = []
    for group in transforms:
        for transform in group:
            if transform.tag != ns.q(ns.DS, "Transform"):
                raise _reject("unexpected element among the transforms", "signature-structure")
            seen.append(_algorithm(transform, ns.TRANSFORMS, "transform"))
    if len(transforms) != 1 or ns.ENVELOPED not in seen or len(seen) != len(set(seen)):
        raise _reject("an enveloped signature needs one enveloped-signature transform", "signature-structure")
    _algorithm(_one(reference, ns.q(ns.DS, "DigestMethod"), "DigestMethod"), ns.DIGEST_METHODS, "digest")
    _one(reference, ns.q(ns.DS, "DigestValue"), "DigestValue")
    return method


def _register_ids(element: Any) -> None:
    root = element.getroottree().getroot()
    xmlsec.tree.add_ids(root, ["ID"])


def verify(element: Any, certificates: Sequence[Certificate], *, whole_document: bool = False) -> None:
    """Verify the enveloped signature of ``element`` with one of ``certificates`` (a key
    rollover publishes several); raises :class:`LoginRejected` if it is missing or invalid."""
    signature = enveloped_signature(element)
    if signature is None:
        raise _reject("the element is not signed", "signature-missing")
    method = check_signature_shape(element, signature, whole_document=whole_document)
    for key_info in signature.findall(ns.q(ns.DS, "KeyInfo")):
        signature.remove(key_info)  # outside SignedInfo: removing it changes nothing that is verified
    _register_ids(element)
    for certificate in certificates:
        ctx = xmlsec.SignatureContext()
        ctx.key = xmlsec.Key.from_memory(certificate.pem, _C.KeyDataFormatCertPem)
        if method in _NARROWABLE:
            ctx.enable_signature_transform(_NARROWABLE[method])
            ctx.enable_signature_transform(_C.TransformExclC14N)
            for transform in (_C.TransformExclC14N, _C.TransformEnveloped, _C.TransformSha256):
                ctx.enable_reference_transform(transform)
        try:
            ctx.verify(signature)
            return
        except xmlsec.Error:
            continue
    raise _reject("the signature does not verify with the identity provider's certificates", "signature-invalid")


def sign(element: Any, key: KeyPair, method: str = ns.RSA_SHA256, *, with_certificate: bool = True,
         digest: str = ns.SHA256) -> None:
    """Sign ``element`` (enveloped, exclusive c14n, SHA-256), the signature placed right after
    its ``Issuer`` as the SAML schema orders it."""
    element_id = element.get("ID")
    if not element_id:
        raise ValueError("only an element with an ID can be signed")
    ds = ns.DS
    signature = etree.Element(ns.q(ds, "Signature"), nsmap={"ds": ds})
    signed_info = etree.SubElement(signature, ns.q(ds, "SignedInfo"))
    etree.SubElement(signed_info, ns.q(ds, "CanonicalizationMethod"), Algorithm=ns.EXC_C14N)
    etree.SubElement(signed_info, ns.q(ds, "SignatureMethod"), Algorithm=method)
    reference = etree.SubElement(signed_info, ns.q(ds, "Reference"), URI="#" + element_id)
    transforms = etree.SubElement(reference, ns.q(ds, "Transforms"))
    etree.SubElement(transforms, ns.q(ds, "Transform"), Algorithm=ns.ENVELOPED)
    etree.SubElement(transforms, ns.q(ds, "Transform"), Algorithm=ns.EXC_C14N)
    etree.SubElement(reference, ns.q(ds, "DigestMethod"), Algorithm=digest)
    etree.SubElement(reference, ns.q(ds, "DigestValue"))
    etree.SubElement(signature, ns.q(ds, "SignatureValue"))
    if with_certificate:
        key_info = etree.SubElement(signature, ns.q(ds, "KeyInfo"))
        x509_data = etree.SubElement(key_info, ns.q(ds, "X509Data"))
        etree.SubElement(x509_data, ns.q(ds, "X509Certificate")).text = key.certificate.b64
    issuer = element.find(ns.q(ns.SAML, "Issuer"))
    element.insert(list(element).index(issuer) + 1 if issuer is not None else 0, signature)
    _register_ids(element)
    ctx = xmlsec.SignatureContext()
    ctx.key = xmlsec.Key.from_memory(key.private_pem, _C.KeyDataFormatPem)
    ctx.sign(signature)

"""XML Encryption of assertions through python-xmlsec, with allow-listed algorithms.

Decryption is done in two explicit steps — the content key from the ``xenc:EncryptedKey``
(RSA-OAEP under one of our encryption keys), then the ``xenc:EncryptedData`` with that key
(AES-GCM or AES-CBC) — so that each step's algorithm is checked before libxmlsec1 runs it and no
key is ever looked up from the message. Every failure gives the same answer (no padding or
key oracle). The decrypted assertion replaces the ``xenc:EncryptedData`` in the document.

Encryption is used by the identity-provider sandbox (AES-256-GCM, RSA-OAEP with SHA-256 and
MGF1-SHA-256 by default).
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
_KEY_BYTES = {ns.AES256_GCM: 32, ns.AES128_GCM: 16, ns.AES256_CBC: 32, ns.AES128_CBC: 16}
_MAX_ENCRYPTED_KEYS = 4
ELEMENT_TYPE = ns.XENC + "Element"


def _reject(reason: str) -> LoginRejected:
    return LoginRejected(reason, check="decryption")


def _method(element: Any, allowed: frozenset[str], what: str) -> Any:
    methods = element.findall(ns.q(ns.XENC, "EncryptionMethod"))
    if len(methods) != 1 or methods[0].get("Algorithm") not in allowed:
        raise _reject(f"the {what} algorithm is not accepted")
    return methods[0]


def _check_key_transport(encrypted_key: Any) -> None:
    method = _method(encrypted_key, ns.KEY_TRANSPORT, "key transport")
    for child in method:
        if child.tag == ns.q(ns.DS, "DigestMethod"):
            if child.get("Algorithm") not in ns.OAEP_DIGESTS:
                raise _reject("the key transport digest is not accepted")
        elif child.tag == ns.q(ns.XENC11, "MGF"):
            if method.get("Algorithm") != ns.RSA_OAEP or child.get("Algorithm") not in ns.OAEP_MGFS:
                raise _reject("the key transport mask function is not accepted")
        elif child.tag != ns.q(ns.XENC, "OAEPparams"):
            raise _reject("the key transport method carries an unknown parameter")


def _encrypted_keys(encrypted_assertion: Any, encrypted_data: Any) -> list[Any]:
    key_info = encrypted_data.find(ns.q(ns.DS, "KeyInfo"))
    inside = key_info.findall(ns.q(ns.XENC, "EncryptedKey")) if key_info is not None else []
    beside = encrypted_assertion.findall(ns.q(ns.XENC, "EncryptedKey"))  # SAML core 2.3.4 allows both
    found: list[Any] = [*inside, *beside]
    if not found or len(found) > _MAX_ENCRYPTED_KEYS:
        raise _reject("the encrypted assertion needs one to four encrypted keys")
    return found


def decrypt_assertion(encrypted_assertion: Any, keys: Sequence[KeyPair]) -> Any:
    """Decrypt ``saml:EncryptedAssertion`` with one of ``keys``; returns the assertion element,
    which now stands in the document where the encrypted data stood."""
    data = encrypted_assertion.findall(ns.q(ns.XENC, "EncryptedData"))
    if len(data) != 1:
        raise _reject("an encrypted assertion needs exactly one EncryptedData")
    encrypted_data = data[0]
    if encrypted_data.get("Type") not in (None, ELEMENT_TYPE):
        raise _reject("the encrypted data must be an element")
    content_method = _method(encrypted_data, ns.CONTENT_ENCRYPTION, "content encryption").get("Algorithm")
    candidates = _encrypted_keys(encrypted_assertion, encrypted_data)
    for encrypted_key in candidates:
        _check_key_transport(encrypted_key)
    content_key = None
    for encrypted_key in candidates:
        for pair in keys:
            ctx = xmlsec.EncryptionContext()
            ctx.key = xmlsec.Key.from_memory(pair.private_pem, _C.KeyDataFormatPem)
            try:
                value = ctx.decrypt(encrypted_key)
            except xmlsec.Error:
                continue
            if isinstance(value, bytes) and len(value) == _KEY_BYTES[content_method]:
                content_key = value
                break
        if content_key is not None:
            break
    if content_key is None:
        raise _reject("the assertion could not be decrypted")
    ctx = xmlsec.EncryptionContext()
    ctx.key = xmlsec.Key.from_binary_data(_C.KeyDataAes, content_key)
    try:
        result = ctx.decrypt(encrypted_data)
    except xmlsec.Error:
        raise _reject("the assertion could not be decrypted") from None
    if not isinstance(result, etree._Element):
        raise _reject("the encrypted data did not hold an element")
    for encrypted_key in encrypted_assertion.findall(ns.q(ns.XENC, "EncryptedKey")):
        encrypted_assertion.remove(encrypted_key)
    return result


def encrypt_element(element: Any, recipient: Certificate, *, content: str = ns.AES256_GCM,
                    transport: str = ns.RSA_OAEP, key_inside: bool = True) -> Any:
    """Replace ``element`` by ``xenc:EncryptedData`` for ``recipient`` (the sandbox IdP's side)."""
    xenc, ds = ns.XENC, ns.DS
    encrypted_data = etree.Element(ns.q(xenc, "EncryptedData"), nsmap={"xenc": xenc}, Type=ELEMENT_TYPE)
    etree.SubElement(encrypted_data, ns.q(xenc, "EncryptionMethod"), Algorithm=content)
    key_info = etree.SubElement(encrypted_data, ns.q(ds, "KeyInfo"), nsmap={"ds": ds})
    encrypted_key = etree.SubElement(key_info, ns.q(xenc, "EncryptedKey"))
    method = etree.SubElement(encrypted_key, ns.q(xenc, "EncryptionMethod"), Algorithm=transport)
    etree.SubElement(method, ns.q(ds, "DigestMethod"), Algorithm=ns.SHA256 if transport == ns.RSA_OAEP else ns.SHA1)
    if transport == ns.RSA_OAEP:
        etree.SubElement(method, ns.q(ns.XENC11, "MGF"), nsmap={"xenc11": ns.XENC11}, Algorithm=ns.MGF1_SHA256)
    etree.SubElement(etree.SubElement(encrypted_key, ns.q(xenc, "CipherData")), ns.q(xenc, "CipherValue"))
    etree.SubElement(etree.SubElement(encrypted_data, ns.q(xenc, "CipherData")), ns.q(xenc, "CipherValue"))
    manager = xmlsec.KeysManager()
    manager.add_key(xmlsec.Key.from_memory(recipient.pem, _C.KeyDataFormatCertPem))
    ctx = xmlsec.EncryptionContext(manager)
    bits = _KEY_BYTES[content] * 8
    ctx.key = xmlsec.Key.generate(_C.KeyDataAes, bits, _C.KeyDataTypeSession)
    result = ctx.encrypt_xml(encrypted_data, element)
    if not key_inside:  # the EncryptedKey as a sibling of EncryptedData (SAML core 2.3.4)
        moved = result.find(f"{ns.q(ds, 'KeyInfo')}/{ns.q(xenc, 'EncryptedKey')}")
        result.remove(result.find(ns.q(ds, "KeyInfo")))
        result.addnext(moved)
    return result

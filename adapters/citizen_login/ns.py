"""Namespaces, algorithm identifiers and the allow-lists the response processing enforces.

Sources: SAML 2.0 core/bindings/metadata (OASIS, 2005); XML Signature 1.1 and XML Encryption
1.1 (W3C, 2013); RFC 6931 (additional XML security URIs: ``sha256-rsa-MGF1``); the BundID
request extension namespaces as published SPs send them (see README.md, "Sources").
"""

from __future__ import annotations

from typing import Final

SAMLP: Final = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML: Final = "urn:oasis:names:tc:SAML:2.0:assertion"
MD: Final = "urn:oasis:names:tc:SAML:2.0:metadata"
DS: Final = "http://www.w3.org/2000/09/xmldsig#"
DS11: Final = "http://www.w3.org/2009/xmldsig11#"
XENC: Final = "http://www.w3.org/2001/04/xmlenc#"
XENC11: Final = "http://www.w3.org/2009/xmlenc11#"
XSI: Final = "http://www.w3.org/2001/XMLSchema-instance"
XS: Final = "http://www.w3.org/2001/XMLSchema"
AKDB: Final = "https://www.akdb.de/request/2018/09"
CLASSIC_UI: Final = "https://www.akdb.de/request/2018/09/classic-ui/v1"

NSMAP: Final = {"samlp": SAMLP, "saml": SAML, "md": MD, "ds": DS, "xenc": XENC, "xenc11": XENC11,
                "akdb": AKDB, "classic-ui": CLASSIC_UI}

BINDING_POST: Final = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
BINDING_REDIRECT: Final = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
STATUS_SUCCESS: Final = "urn:oasis:names:tc:SAML:2.0:status:Success"
BEARER: Final = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
NAMEID_TRANSIENT: Final = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
ATTRNAME_URI: Final = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"

# -- signatures ---------------------------------------------------------------------------
RSA_SHA256: Final = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
RSA_PSS_SHA256: Final = "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1"
SHA256: Final = "http://www.w3.org/2001/04/xmlenc#sha256"
EXC_C14N: Final = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED: Final = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"

SIGNATURE_METHODS: Final = frozenset({RSA_SHA256, RSA_PSS_SHA256})
DIGEST_METHODS: Final = frozenset({SHA256})
C14N_METHODS: Final = frozenset({EXC_C14N})
TRANSFORMS: Final = frozenset({ENVELOPED, EXC_C14N})

# -- encryption ---------------------------------------------------------------------------
AES256_GCM: Final = "http://www.w3.org/2009/xmlenc11#aes256-gcm"
AES128_GCM: Final = "http://www.w3.org/2009/xmlenc11#aes128-gcm"
AES256_CBC: Final = "http://www.w3.org/2001/04/xmlenc#aes256-cbc"
AES128_CBC: Final = "http://www.w3.org/2001/04/xmlenc#aes128-cbc"
RSA_OAEP_MGF1P: Final = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"
RSA_OAEP: Final = "http://www.w3.org/2009/xmlenc11#rsa-oaep"
SHA1: Final = "http://www.w3.org/2000/09/xmldsig#sha1"
MGF1_SHA1: Final = "http://www.w3.org/2009/xmlenc11#mgf1sha1"
MGF1_SHA256: Final = "http://www.w3.org/2009/xmlenc11#mgf1sha256"

CONTENT_ENCRYPTION: Final = frozenset({AES256_GCM, AES128_GCM, AES256_CBC, AES128_CBC})
KEY_TRANSPORT: Final = frozenset({RSA_OAEP_MGF1P, RSA_OAEP})
# OAEP's own digest and mask function (RFC 8017): SHA-1 there is not a signature digest and
# is what rsa-oaep-mgf1p means by default; everything else uses SHA-256.
OAEP_DIGESTS: Final = frozenset({SHA1, SHA256})
OAEP_MGFS: Final = frozenset({MGF1_SHA1, MGF1_SHA256})

# -- trust levels -------------------------------------------------------------------------
STORK_LEVELS: Final = ("STORK-QAA-Level-1", "STORK-QAA-Level-2", "STORK-QAA-Level-3", "STORK-QAA-Level-4")


def q(namespace: str, local: str) -> str:
    """Clark notation ``{namespace}local`` as lxml names elements."""
    return f"{{{namespace}}}{local}"

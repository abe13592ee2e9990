"""SAML 2.0 bindings (OASIS SAML bindings 3.4, 3.5): HTTP-POST (an auto-submitting form, the
message signed inside) and HTTP-Redirect (DEFLATE + base64 in the query, signed over the
query string with ``SigAlg``). Decoding is bounded: the base64 input, and for the Redirect
binding the inflated size (no deflate bombs).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import zlib
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlencode

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

from adapters.citizen_login import ns, xmldsig
from adapters.citizen_login.keys import Certificate, KeyPair
from gateway.identity import BrowserStep, LoginRejected

MAX_INFLATED_BYTES = 256 * 1024
_AUTO_SUBMIT = "document.forms[0].submit();"
AUTO_SUBMIT_CSP = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-"
                   + base64.b64encode(hashlib.sha256(_AUTO_SUBMIT.encode()).digest()).decode() + "'")


def _xml(element: Any) -> bytes:
    return bytes(etree.tostring(element, xml_declaration=True, encoding="UTF-8"))


def post(element: Any, url: str, field: str, relay_state: str | None, key: KeyPair | None,
         method: str = ns.RSA_SHA256) -> BrowserStep:
    """``element`` signed (if ``key``) and base64-encoded into a form posted to ``url``."""
    if key is not None:
        xmldsig.sign(element, key, method)
    fields = {field: base64.b64encode(_xml(element)).decode()}
    if relay_state is not None:
        fields["RelayState"] = relay_state
    return BrowserStep(url=url, fields=fields)


def redirect(element: Any, url: str, field: str, relay_state: str | None, key: KeyPair) -> BrowserStep:
    """``element`` deflated into the query of ``url``, the query signed with RSA-SHA256."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    raw = deflater.compress(_xml(element)) + deflater.flush()
    params = [(field, base64.b64encode(raw).decode())]
    if relay_state is not None:
        params.append(("RelayState", relay_state))
    params.append(("SigAlg", ns.RSA_SHA256))
    query = urlencode(params, quote_via=quote_plus)
    signature = key.private_key.sign(query.encode(), padding.PKCS1v15(), hashes.SHA256())
    query += "&Signature=" + quote_plus(base64.b64encode(signature).decode())
    return BrowserStep(url=url + ("&" if "?" in url else "?") + query)


def b64decode(value: str, max_bytes: int) -> bytes:
    """Strict base64 (whitespace as line breaks allowed) with a size limit before decoding."""
    compact = "".join(value.split())
    if len(compact) > (max_bytes // 3 + 1) * 4:
        raise LoginRejected(f"the SAML message exceeds {max_bytes} bytes", check="size")
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise LoginRejected("the SAML message is not valid base64", check="encoding") from None


def inflate(data: bytes, max_bytes: int = MAX_INFLATED_BYTES) -> bytes:
    """Raw DEFLATE, stopping at ``max_bytes`` of output (a deflate bomb stops there)."""
    inflater = zlib.decompressobj(-15)
    try:
        out = inflater.decompress(data, max_bytes + 1)
    except zlib.error:
        raise LoginRejected("the SAML message is not valid DEFLATE data", check="encoding") from None
    if len(out) > max_bytes or inflater.unconsumed_tail:
        raise LoginRejected(f"the inflated SAML message exceeds {max_bytes} bytes", check="size")
    return out


def decode_redirect(query: str, field: str, certificates: Sequence[Certificate],
                    max_bytes: int = MAX_INFLATED_BYTES) -> tuple[bytes, str | None]:
    """The XML and RelayState of a signed HTTP-Redirect message. The signature is checked over
    the query parameters exactly as they arrived (bindings 3.4.4.1)."""
    raw: dict[str, str] = {}
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if name in raw:
            raise LoginRejected(f"query parameter {name} appears twice", check="encoding")
        raw[name] = value
    decoded = dict(parse_qsl(query, keep_blank_values=True))
    if field not in raw or "Signature" not in raw or decoded.get("SigAlg") != ns.RSA_SHA256:
        raise LoginRejected("the redirect message must be signed with RSA-SHA256", check="signature-missing")
    signed = "&".join(f"{name}={raw[name]}" for name in (field, "RelayState", "SigAlg") if name in raw)
    signature = b64decode(decoded["Signature"], 4096)
    for certificate in certificates:
        try:
            certificate.public_key().verify(signature, signed.encode(), padding.PKCS1v15(), hashes.SHA256())
            break
        except InvalidSignature:
            continue
    else:
        raise LoginRejected("the redirect message's signature does not verify", check="signature-invalid")
    return inflate(b64decode(decoded[field], max_bytes), max_bytes), decoded.get("RelayState")


def form_page(step: BrowserStep, title: str = "Weiterleitung") -> str:
    """An HTML page whose form posts ``step.fields`` to ``step.url`` (submitted by script,
    or by the button without one)."""
    inputs = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                     for k, v in step.fields.items())
    return (f'<!doctype html><html lang="de"><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>'
            f'<body><form method="post" action="{html.escape(step.url)}">{inputs}'
            f'<noscript><p>JavaScript ist ausgeschaltet: bitte weiter mit dem Knopf.</p></noscript>'
            f'<button type="submit">Weiter</button></form><script>{_AUTO_SUBMIT}</script></body></html>')


def form_fields(items: Mapping[str, str], allowed: Sequence[str]) -> dict[str, str]:
    """Only the named form fields, each at most once (the rest is ignored)."""
    return {name: items[name] for name in allowed if name in items}

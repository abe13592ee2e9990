"""Checks of a response's shape made before any cryptography, so that what is verified later
is the only thing there is to read.

- the document is parsed by :func:`gateway.safexml.parse` (no DTD, no entities, size and depth
  limits), and holds no comments (a comment splits a text node without touching the signature:
  "comment tricks" in NameID or attribute values). The parser drops comments (the text around
  one becomes one text node again), so the refusal comes from its comment cap set to 0;
- the root is a ``samlp:Response`` in the SAML namespace, ``Version="2.0"``;
- IDs are unique in the whole document (``ID``, ``Id``, ``xml:id`` alike), so a reference can
  only ever point at one element;
- there is exactly one assertion — plain or encrypted, counted by local name in any namespace —
  and it is a direct child of the response (not inside Extensions, a signature's Object,
  another assertion or a foreign element).
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from adapters.citizen_login import ns
from gateway import safexml
from gateway.errors import InvalidPayload
from gateway.identity import LoginRejected

MAX_DEPTH = 40
_ID_ATTRIBUTES = ("ID", "Id", "id", "{http://www.w3.org/XML/1998/namespace}id")
_ASSERTION_NAMES = ("Assertion", "EncryptedAssertion")


def _reject(reason: str, check: str = "structure") -> LoginRejected:
    return LoginRejected(reason, check=check)


_NO_COMMENTS = safexml.DEFAULT_LIMITS.replace(max_comments=0)


def parse_message(data: bytes, max_bytes: int) -> Any:
    """A SAML message from the identity provider, parsed without comments: any is refused."""
    try:
        return safexml.parse(data, limits=_NO_COMMENTS, max_bytes=max_bytes, max_depth=MAX_DEPTH)
    except InvalidPayload as exc:
        if exc.extensions.get("cap") == "max_comments":
            raise _reject("XML comments are not accepted in a SAML response", "comments") from None
        raise


def parse_response(data: bytes, max_bytes: int) -> Any:
    root = parse_message(data, max_bytes)
    if root.tag != ns.q(ns.SAMLP, "Response") or root.get("Version") != "2.0":
        raise _reject("the message is not a SAML 2.0 Response")
    check_unique_ids(root)
    return root


def check_no_comments(root: Any) -> None:
    """For content the parser did not see: a decrypted assertion is built into the tree by xmlsec."""
    if next(root.iter(etree.Comment), None) is not None:
        raise _reject("XML comments are not accepted in a SAML response", "comments")


def check_unique_ids(root: Any) -> None:
    seen: set[str] = set()
    for element in root.iter(etree.Element):
        for name in _ID_ATTRIBUTES:
            value = element.get(name)
            if value is None:
                continue
            if value in seen:
                raise _reject("the same ID appears twice in the response", "duplicate-id")
            seen.add(value)


def the_assertion(root: Any) -> Any:
    """The one assertion (``saml:Assertion`` or ``saml:EncryptedAssertion``) of the response."""
    found = [e for e in root.iter(etree.Element) if etree.QName(e).localname in _ASSERTION_NAMES]
    if not found:
        raise _reject("the response holds no assertion", "assertion-count")
    if len(found) > 1:
        raise _reject("the response holds more than one assertion", "assertion-count")
    assertion = found[0]
    if assertion.getparent() is not root or etree.QName(assertion).namespace != ns.SAML:
        raise _reject("the assertion is not a direct child of the response", "assertion-position")
    return assertion


def check_decrypted(root: Any, assertion: Any) -> None:
    """After decryption: the new content obeys the same rules as the rest of the document."""
    if assertion.tag != ns.q(ns.SAML, "Assertion"):
        raise _reject("the encrypted assertion did not hold a saml:Assertion", "assertion-position")
    depth_limit = "boolean(" + "/*" * (MAX_DEPTH + 1) + ")"
    if root.getroottree().xpath(depth_limit):
        raise _reject(f"the decrypted assertion is nested more than {MAX_DEPTH} levels deep", "size")
    check_no_comments(root)
    check_unique_ids(root)
    inner = [e for e in assertion.iter(etree.Element) if e is not assertion
             and etree.QName(e).localname in _ASSERTION_NAMES]
    if inner:
        raise _reject("an assertion inside the assertion", "assertion-position")

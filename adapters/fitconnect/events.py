"""Security Event Tokens of the FIT-Connect event log: build, parse, verify, derive status.

Who signs what: the Zustelldienst signs create/submit/notify/forward/delete events and the
automatic reject (key in its JWKS, ``iss`` = its URL); a destination signs accept/reject
(``iss`` = destinationId, key published at ``/v{1,2}/destinations/{id}/keys/{kid}`` and
validated against the PKI). Every SET is checked for its claims (``$schema`` of the
set-payload schema, ``jti`` a UUID, ``iat``, ``sub`` ``submission:<uuid>``, ``txn``
``case:<uuid>``, exactly one event) and for the details its event type carries
(:data:`DETAILS`): ``authenticationTags`` in submit/notify/accept, ``problems`` in reject.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from cryptography import x509
from joserfc.jwk import RSAKey

from adapters.fitconnect import jose
from adapters.fitconnect.api import SubmissionApi
from adapters.fitconnect.keycheck import validate_public_jwk
from adapters.fitconnect.keys import OwnKey, jose_key

EVENT_BASE = "https://schema.fitko.de/fit-connect/events/"
SET_PAYLOAD_SCHEMA = "https://schema.fitko.de/fit-connect/set-payload/1.0.0/set-payload.schema.json"
_SET_PAYLOAD = re.compile(r"^https://schema\.fitko\.de/fit-connect/set-payload/1\.\d+\.\d+/set-payload\.schema\.json$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# the events the Zustelldienst writes, and those a destination writes
ZUSTELLDIENST_EVENTS = frozenset({"create-submission", "submit-submission", "notify-submission",
                                  "forward-submission", "delete-submission", "reject-submission"})
DESTINATION_EVENTS = frozenset({"accept-submission", "reject-submission"})
STATUS_BY_EVENT = {
    "create-submission": "incomplete", "submit-submission": "submitted", "notify-submission": "submitted",
    "forward-submission": "forwarded", "accept-submission": "accepted", "reject-submission": "rejected",
    "delete-submission": "deleted",
}
JWKS_TTL_SECONDS = 3600.0


@dataclass(frozen=True)
class Event:
    name: str
    issuer: str
    issued_at: int
    submission_id: str  # the subject's id: a submission's, or a reply's for the events of replies
    case_id: str
    details: dict[str, Any]
    token: str = field(repr=False)


def build_set(name: str, issuer: str, submission_id: str, case_id: str, details: dict[str, Any],
              key: OwnKey, now: float | None = None, subject: str = "submission") -> str:
    payload = {
        "$schema": SET_PAYLOAD_SCHEMA,
        "jti": str(uuid.uuid4()),
        "iss": issuer,
        "iat": int(now if now is not None else time.time()),
        "sub": f"{subject}:{submission_id}",
        "txn": f"case:{case_id}",
        "events": {EVENT_BASE + name: details},
    }
    return jose.sign_set(payload, key.key, key.kid)


def parse_claims(claims: dict[str, Any], token: str, subject: str = "submission") -> Event:
    """Check the SET's claims and its event's details (the checks every event type gets).
    ``subject``: ``submission`` (``sub`` ``submission:<uuid>``, the submission events) or
    ``reply`` (``reply:<uuid>``, the events of replies)."""
    events = claims.get("events")
    sub, txn, iss, iat = claims.get("sub"), claims.get("txn"), claims.get("iss"), claims.get("iat")
    if not (isinstance(events, dict) and len(events) == 1 and isinstance(sub, str) and isinstance(txn, str)
            and isinstance(iss, str) and isinstance(iat, int) and not isinstance(iat, bool)
            and isinstance(claims.get("jti"), str)):
        raise jose.JoseFailure("SET claims incomplete")
    schema = claims.get("$schema")
    if schema is not None and not (isinstance(schema, str) and _SET_PAYLOAD.match(schema)):
        raise jose.JoseFailure("SET names no set-payload schema")
    (uri, details), = events.items()
    prefix = f"{subject}:"
    if not (_UUID.match(claims["jti"]) and uri.startswith(EVENT_BASE) and sub.startswith(prefix)
            and txn.startswith("case:") and _UUID.match(sub.removeprefix(prefix))
            and _UUID.match(txn.removeprefix("case:"))):
        raise jose.JoseFailure(f"SET is not a FIT-Connect {subject} event")
    name = uri.removeprefix(EVENT_BASE)
    check = DETAILS.get(name) if name.endswith(f"-{subject}") else None
    if check is None or not isinstance(details, dict) or not check(details):
        raise jose.JoseFailure("SET event details do not fit its event type")
    return Event(name=name, issuer=iss, issued_at=iat, submission_id=sub.removeprefix(prefix),
                 case_id=txn.removeprefix("case:"), details=details, token=token)


def _tags(details: dict[str, Any]) -> bool:
    tags = details.get("authenticationTags")
    if not isinstance(tags, dict) or not isinstance(tags.get("metadata"), str):
        return False
    attachments = tags.get("attachments", {})
    return (("data" not in tags or isinstance(tags["data"], str)) and isinstance(attachments, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in attachments.items()))


def _problems(details: dict[str, Any]) -> bool:
    problems = details.get("problems")
    return isinstance(problems, list) and bool(problems) and all(
        isinstance(p, dict) and isinstance(p.get("type"), str) and isinstance(p.get("title"), str)
        and isinstance(p.get("instance", ""), str) and isinstance(p.get("detail", ""), str) for p in problems)


def _any(details: dict[str, Any]) -> bool:
    return True


# event type -> the check of its details (set-payload schema; events of the FIT-Connect docs).
# Events of replies: ``notify-reply`` is named by FITKO planning issue 1295 (with ``notifyType``
# polling | callback); the others are our reading by analogy with the submission events [D].
DETAILS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "create-submission": _any, "submit-submission": _tags, "notify-submission": _tags,
    "forward-submission": _any, "delete-submission": _any, "accept-submission": _tags,
    "reject-submission": _problems,
    "create-reply": _any, "submit-reply": _tags, "notify-reply": _any, "accept-reply": _tags,
    "reject-reply": _problems, "delete-reply": _any,
}


def unverified_claims(token: str) -> dict[str, Any]:
    """Claims read *before* the signature check, only to choose the key to check it with."""
    parts = token.split(".")
    if len(parts) != 3 or len(token) > jose.MAX_SET_LENGTH:
        raise jose.JoseFailure("not a compact JWS")
    try:
        value = orjson.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError):
        raise jose.JoseFailure("SET payload unreadable") from None
    if not isinstance(value, dict):
        raise jose.JoseFailure("SET payload is not an object")
    return value


def authentication_tags(encrypted_metadata: str, encrypted_data: str | None,
                        attachment_tags: Mapping[str, str]) -> dict[str, Any]:
    """The ``authenticationTags`` of a submission: the last segment of the metadata's and the
    data's JWE, and of every uploaded attachment JWE by its id -- for a fragmented attachment,
    every fragment by the fragment's id (each fragment is uploaded as an attachment of its own)."""
    tags: dict[str, Any] = {"metadata": jose.authentication_tag(encrypted_metadata)}
    if encrypted_data:
        tags["data"] = jose.authentication_tag(encrypted_data)
    tags["attachments"] = dict(attachment_tags)
    return tags


class EventVerifier:
    """Verifies SETs with the right key for their issuer; caches the Zustelldienst's JWKS."""

    def __init__(self, api: SubmissionApi, zustelldienst_issuer: str, jwks_url: str,
                 anchors: list[x509.Certificate], own_signing: dict[str, OwnKey],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.api, self.issuer, self.jwks_url, self.anchors = api, zustelldienst_issuer, jwks_url, anchors
        self.clock = clock
        self._own = {dest: jose_key(key.public_jwk) for dest, key in own_signing.items()}
        self._own_kids = {dest: key.kid for dest, key in own_signing.items()}
        self._jwks: dict[str, RSAKey] = {}
        self._jwks_fetched = float("-inf")
        self._lock = threading.Lock()
        # destination signing keys that passed validation, by (destination, kid), for as long as
        # the JWKS: a kid names one key; following many submissions must not fetch it every time
        self._destination_keys: dict[tuple[str, str], tuple[RSAKey, float]] = {}

    def _zustelldienst_key(self, kid: str) -> RSAKey | None:
        with self._lock:
            stale = self.clock() - self._jwks_fetched > JWKS_TTL_SECONDS
            if kid not in self._jwks or stale:
                self._jwks = _jwks_keys(self.api.get_jwks(self.jwks_url))  # one refresh per unknown kid
                self._jwks_fetched = self.clock()
            return self._jwks.get(kid)

    def _destination_key(self, destination_id: str, kid: str) -> RSAKey | None:
        if destination_id in self._own:
            return self._own[destination_id] if self._own_kids[destination_id] == kid else None
        known = self._destination_keys.get((destination_id, kid))
        if known is not None and self.clock() - known[1] <= JWKS_TTL_SECONDS:
            return known[0]
        key = validate_public_jwk(self.api.get_destination_key(destination_id, kid), "signature", self.anchors)
        with self._lock:
            if len(self._destination_keys) >= 1024:
                self._destination_keys.clear()
            self._destination_keys[(destination_id, kid)] = (key, self.clock())
        return key

    def verify(self, token: str, subject: str = "submission") -> Event:
        iss = unverified_claims(token).get("iss")
        if iss == self.issuer:
            claims = jose.verify_set(token, self._zustelldienst_key)
        elif isinstance(iss, str) and is_uuid(iss):
            claims = jose.verify_set(token, lambda kid: self._destination_key(iss, kid))
        else:
            raise jose.JoseFailure("SET issuer unknown")
        return parse_claims(claims, token, subject)


def _jwks_keys(jwks: dict[str, Any]) -> dict[str, RSAKey]:
    keys: dict[str, RSAKey] = {}
    for jwk in jwks.get("keys") or []:
        if isinstance(jwk, dict) and jwk.get("kty") == "RSA" and jwk.get("alg", "PS512") == "PS512" \
                and isinstance(jwk.get("kid"), str):
            keys[jwk["kid"]] = jose_key(jwk)
    return keys


def is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def status_of(events: list[Event], submission_id: str) -> str:
    """Latest status of a submission from its (verified) events, in event-log order."""
    status = "unknown"
    for event in events:
        if event.submission_id == submission_id and event.name in STATUS_BY_EVENT:
            status = STATUS_BY_EVENT[event.name]
    return status

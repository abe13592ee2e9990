"""In-memory state and rules of the sandbox Zustelldienst (no HTTP in here).

Tests reach this object as ``app.state.sandbox`` to look at the event log or to play the
attacker (tamper with stored ciphertexts, forge events) between the steps of a flow.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from adapters.fitconnect import jose
from adapters.fitconnect.events import EVENT_BASE, authentication_tags, build_set, parse_claims, unverified_claims
from adapters.fitconnect.keys import OwnKey, jose_key
from adapters.fitconnect.pki import public_jwk
from adapters.fitconnect.sandbox.config import SandboxClient, SandboxConfig, SandboxDestination

PROBLEM_BASE = "https://schema.fitko.de/fit-connect/submission-api/problems/"


class Problem(Exception):
    """An RFC 7807 problem answered by the sandbox."""

    def __init__(self, status: int, slug: str, title: str, detail: str | None = None) -> None:
        super().__init__(title)
        self.status, self.slug, self.title, self.detail = status, slug, title, detail

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": PROBLEM_BASE + self.slug, "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        return body


@dataclass
class StoredSubmission:
    submission_id: str
    case_id: str
    destination_id: str
    service_type: dict[str, Any]
    announced: list[str]
    attachments: dict[str, str] = field(default_factory=dict)
    encrypted_metadata: str | None = None
    encrypted_data: str | None = None
    status: str = "incomplete"


@dataclass
class SentCallback:
    url: str
    timestamp: str
    signature: str
    body: bytes
    status: int | None = None


class Sandbox:
    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        jwk = config.signing_key
        self.signing = OwnKey(kid=str(jwk["kid"]), key=jose_key(jwk), public_jwk=public_jwk(jwk))
        self.destinations = {d.id: d for d in config.destinations}
        self.clients = {c.client_id: c for c in config.clients}
        self.submissions: dict[str, StoredSubmission] = {}
        self.event_logs: dict[str, list[str]] = {}
        self.tokens: dict[str, tuple[SandboxClient, float]] = {}
        self.callbacks: list[SentCallback] = []
        self.lock = threading.RLock()

    # -- OAuth ---------------------------------------------------------------------------
    def issue_token(self, client_id: str, secret: str) -> dict[str, Any]:
        client = self.clients.get(client_id)
        if client is None or not secrets.compare_digest(client.secret.encode(), secret.encode()):
            raise Problem(401, "invalid-client", "Invalid client credentials")
        token = secrets.token_urlsafe(32)
        with self.lock:
            self.tokens[token] = (client, time.time() + self.config.token_ttl_seconds)
        scopes = (["send:region:DE"] if client.send else []) + [f"subscribe:destination:{d}" for d in client.subscribe]
        return {"access_token": token, "token_type": "Bearer", "expires_in": self.config.token_ttl_seconds,
                "scope": " ".join(scopes)}

    def client_for(self, authorization: str | None) -> SandboxClient:
        token = (authorization or "").removeprefix("Bearer ").strip()
        with self.lock:
            found = self.tokens.get(token)
        if found is None or found[1] < time.time():
            raise Problem(401, "unauthorized", "Missing or expired access token")
        return found[0]

    # -- lookups -------------------------------------------------------------------------
    def destination(self, destination_id: str) -> SandboxDestination:
        destination = self.destinations.get(destination_id)
        if destination is None:
            raise Problem(404, "destination-not-found", "Destination not found")
        return destination

    def submission(self, submission_id: str) -> StoredSubmission:
        found = self.submissions.get(submission_id)
        if found is None:
            raise Problem(404, "submission-not-found", "Submission not found")
        return found

    def require_subscriber(self, client: SandboxClient, destination_id: str) -> None:
        if destination_id not in client.subscribe:
            raise Problem(403, "forbidden", "Client may not subscribe to this destination")

    # -- event log -----------------------------------------------------------------------
    def record(self, name: str, sub: StoredSubmission, details: dict[str, Any]) -> str:
        token = build_set(name, self.config.issuer, sub.submission_id, sub.case_id, details, self.signing)
        with self.lock:
            self.event_logs.setdefault(sub.case_id, []).append(token)
        return token

    def events(self, case_id: str) -> list[str]:
        with self.lock:
            if case_id not in self.event_logs:
                raise Problem(404, "case-not-found", "Case not found")
            return list(self.event_logs[case_id])

    def tags(self, sub: StoredSubmission) -> dict[str, Any]:
        assert sub.encrypted_metadata is not None
        return authentication_tags(sub.encrypted_metadata, sub.encrypted_data, sub.attachments)

    def decision(self, case_id: str, token: str) -> None:
        """A subscriber posts accept-submission or reject-submission for one of its submissions."""
        sub_id = _subject(token)
        sub = self.submission(sub_id)
        destination = self.destination(sub.destination_id)
        keys = {k["kid"]: jose_key(k) for k in destination.keys if k.get("alg") == "PS512"}
        try:
            event = parse_claims(jose.verify_set(token, keys.get), token)
        except jose.JoseFailure:
            raise Problem(422, "event-signature-invalid", "Event signature or header invalid") from None
        if event.case_id != case_id or event.issuer != sub.destination_id or sub.case_id != case_id:
            raise Problem(422, "event-invalid", "Event does not belong to this case or destination")
        if event.name not in ("accept-submission", "reject-submission"):
            raise Problem(422, "event-invalid", "Subscribers may post accept or reject events only")
        with self.lock:
            if sub.status != "submitted":
                raise Problem(409, "submission-state-invalid", "Submission is not in state submitted")
            if event.name == "accept-submission" and event.details.get("authenticationTags") != self.tags(sub):
                raise Problem(422, "event-invalid", "Authentication tags do not match the submission")
            sub.status = "accepted" if event.name == "accept-submission" else "rejected"
            self.event_logs[case_id].append(token)

    def new_ids(self) -> tuple[str, str]:
        return str(uuid.uuid4()), str(uuid.uuid4())

    def event_names(self, case_id: str) -> list[str]:
        """Event names in log order (for tests and the demo's printout)."""
        names: list[str] = []
        for token in self.events(case_id):
            names.extend(uri.removeprefix(EVENT_BASE) for uri in unverified_claims(token).get("events", {}))
        return names


def _subject(token: str) -> str:
    try:
        sub = unverified_claims(token).get("sub")
    except jose.JoseFailure:
        raise Problem(422, "event-invalid", "Not a Security Event Token") from None
    if not isinstance(sub, str) or not sub.startswith("submission:"):
        raise Problem(422, "event-invalid", "Event subject is not a submission")
    return sub.removeprefix("submission:")

"""In-memory state and rules of the sandbox Zustelldienst (no HTTP in here).

Tests reach this object as ``app.state.sandbox`` to look at the event log or to play the
attacker (tamper with stored ciphertexts, forge events) between the steps of a flow.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from adapters.fitconnect import jose
from adapters.fitconnect.events import EVENT_BASE, authentication_tags, build_set, parse_claims, unverified_claims
from adapters.fitconnect.keys import OwnKey, jose_key
from adapters.fitconnect.pki import public_jwk
from adapters.fitconnect.sandbox.attachments import TokenFiles
from adapters.fitconnect.sandbox.config import SandboxClient, SandboxConfig, SandboxDestination

PROBLEM_BASE = "https://schema.fitko.de/fit-connect/submission-api/problems/"
# Where a subscriber may fetch a submission: the Submission API answers 404 in any other state.
READY = ("submitted", "forwarded")


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


class OAuthError(Exception):
    """An error of the token endpoint, answered as RFC 6749 section 5.2 describes it."""

    def __init__(self, status: int, error: str, description: str, basic: bool = False) -> None:
        super().__init__(description)
        self.status, self.error, self.description, self.basic = status, error, description, basic


@dataclass
class StoredSubmission:
    submission_id: str
    case_id: str
    destination_id: str
    service_type: dict[str, Any]
    announced: list[str]
    sender: str = ""  # client id of the sender that created it
    callback: dict[str, str] | None = None  # the sender's callback (url, secret) for new events
    attachments: TokenFiles = field(default_factory=TokenFiles)
    encrypted_metadata: str | None = None
    encrypted_data: str | None = None
    status: str = "incomplete"
    api_version: str = "v1"  # the generation it was created in (either may read it)


@dataclass
class StoredReply:
    """An answer of a destination's subscriber to the sender of a case (the FIT-Connect reply
    channel; resource names are our reading, see adapters/fitconnect/wire.py)."""

    reply_id: str
    case_id: str
    creator: str  # client id of the subscriber that answers
    announced: list[str]
    attachments: dict[str, str] = field(default_factory=dict)
    encrypted_metadata: str | None = None
    encrypted_data: str | None = None
    status: str = "incomplete"
    notified: bool = False  # notify-reply written (the online service has seen it)


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
        self.replies: dict[str, StoredReply] = {}
        self.reply_logs: dict[str, list[str]] = {}  # reply id -> its own event log
        self.base_url: str | None = None  # the URL of the first request (see app.py)
        self.lock = threading.RLock()
        # what runs after a submission was submitted (background tasks of the request): the
        # stand-ins of destinations the sandbox itself receives for (the citizen postbox)
        self.on_submitted: list[Callable[[StoredSubmission], None]] = []

    @property
    def issuer(self) -> str:
        """``iss`` of the Zustelldienst's SETs: the configured issuer, else the sandbox's base URL."""
        return self.config.issuer or self.base_url or "http://sandbox.invalid"

    # -- OAuth ---------------------------------------------------------------------------
    def issue_token(self, client_id: str, secret: str, basic: bool = False, scope: str = "") -> dict[str, Any]:
        client = self.clients.get(client_id)
        if client is None or not secrets.compare_digest(client.secret.encode(), secret.encode()):
            raise OAuthError(401, "invalid_client", "Client authentication failed", basic)
        if not set(scope.split()) <= set(self.scopes(client)):
            raise OAuthError(400, "invalid_scope", "A requested scope is not granted to this client", basic)
        token = secrets.token_urlsafe(32)
        with self.lock:
            self.tokens[token] = (client, time.time() + self.config.token_ttl_seconds)
        return {"access_token": token, "token_type": "Bearer", "expires_in": self.config.token_ttl_seconds,
                "scope": " ".join(self.scopes(client))}

    @staticmethod
    def scopes(client: SandboxClient) -> list[str]:
        """Scopes as the Submission API names them (``send:region:DE<ARS>``, ``subscribe:destination:<id>``)."""
        return (["send:region:DE"] if client.send else []) + [f"subscribe:destination:{d}" for d in client.subscribe]

    def client_for(self, authorization: str | None) -> SandboxClient:
        found = self.client_or_none(authorization)
        if found is None:
            raise Problem(401, "unauthorized", "Missing or expired access token")
        return found

    def client_or_none(self, authorization: str | None) -> SandboxClient | None:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        with self.lock:
            found = self.tokens.get(token.strip())
        return found[0] if found is not None and found[1] >= time.time() else None

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

    def sent_by(self, client: SandboxClient, submission_id: str) -> StoredSubmission:
        """A submission of this sender; others' submissions are not its business (403)."""
        sub = self.submission(submission_id)
        if sub.sender != client.client_id:
            raise Problem(403, "forbidden", "Client did not create this submission")
        return sub

    def require_subscriber(self, client: SandboxClient, destination_id: str) -> None:
        if destination_id not in client.subscribe:
            raise Problem(403, "forbidden", "Client may not subscribe to this destination")

    def ready(self, submission_id: str) -> StoredSubmission:
        """A submission a subscriber may fetch (submitted or forwarded), else 404."""
        sub = self.submission(submission_id)
        if sub.status not in READY:
            raise Problem(404, "submission-not-found", "Submission not found")
        return sub

    # -- event log -----------------------------------------------------------------------
    def record(self, name: str, sub: StoredSubmission, details: dict[str, Any]) -> str:
        token = build_set(name, self.issuer, sub.submission_id, sub.case_id, details, self.signing)
        with self.lock:
            self.event_logs.setdefault(sub.case_id, []).append(token)
        return token

    def record_reply(self, name: str, reply: StoredReply, details: dict[str, Any]) -> str:
        token = build_set(name, self.issuer, reply.reply_id, reply.case_id, details, self.signing, subject="reply")
        with self.lock:
            self.reply_logs.setdefault(reply.reply_id, []).append(token)
        return token

    def reply(self, reply_id: str) -> StoredReply:
        found = self.replies.get(reply_id)
        if found is None:
            raise Problem(404, "reply-not-found", "Reply not found")
        return found

    def case_sender(self, case_id: str) -> str | None:
        """The client that opened the case with its first submission (the online service)."""
        subs = self.case_submissions(case_id)
        return subs[0].sender if subs else None

    def events(self, case_id: str) -> list[str]:
        with self.lock:
            if case_id not in self.event_logs:
                raise Problem(404, "case-not-found", "Case not found")
            return list(self.event_logs[case_id])

    def case_submissions(self, case_id: str) -> list[StoredSubmission]:
        with self.lock:
            return [s for s in self.submissions.values() if s.case_id == case_id]

    def require_participant(self, client: SandboxClient, case_id: str) -> None:
        """Only the case's senders and the subscribers of its destinations read its event log."""
        subs = self.case_submissions(case_id)
        if not any(s.sender == client.client_id or s.destination_id in client.subscribe for s in subs):
            raise Problem(403, "forbidden", "Client takes no part in this case")

    def submission_events(self, sub: StoredSubmission) -> list[str]:
        """The submission's own events (API v2 reads the log per submission)."""
        return [t for t in self.events(sub.case_id)
                if unverified_claims(t).get("sub") == f"submission:{sub.submission_id}"]

    def tags(self, sub: StoredSubmission) -> dict[str, Any]:
        """authenticationTags: metadata, data, every uploaded attachment or fragment by its id."""
        assert sub.encrypted_metadata is not None
        return authentication_tags(sub.encrypted_metadata, sub.encrypted_data,
                                   {aid: sub.attachments.tag(aid) for aid in sub.attachments})

    def notify(self, sub: StoredSubmission) -> str:
        """notify-submission: the Zustelldienst announces the submission (with its current tags)
        again -- the sandbox writes it when a test asks for it."""
        return self.record("notify-submission", sub, {"authenticationTags": self.tags(sub)})

    def decision(self, case_id: str, token: str, submission_id: str | None = None) -> StoredSubmission:
        """A subscriber posts accept-submission or reject-submission for one of its submissions."""
        sub_id = _subject(token)
        if submission_id is not None and sub_id != submission_id:
            raise Problem(422, "event-invalid", "Event does not belong to this submission")
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
            if sub.status not in READY:
                raise Problem(409, "submission-state-invalid", "Submission is not in state submitted")
            if event.name == "accept-submission" and event.details.get("authenticationTags") != self.tags(sub):
                raise Problem(422, "event-invalid", "Authentication tags do not match the submission")
            sub.status = "accepted" if event.name == "accept-submission" else "rejected"
            self.event_logs[case_id].append(token)
        return sub

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

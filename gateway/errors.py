"""The gateway's one error hierarchy.

Every error a client or an upstream system can see derives from :class:`GatewayError`.
Each class carries a stable problem type URI (RFC 9457) and an HTTP status, so the API
turns any of them into ``application/problem+json`` without a lookup table elsewhere.

::

    GatewayError
    ├── PermanentError          retrying cannot help: quarantine, reject upstream
    │   ├── InvalidPayload          malformed, wrong types, schema violation
    │   ├── MappingFailed           the mapping could not produce a valid case
    │   ├── VerificationFailed      decryption, signature, hash or tag check failed
    │   ├── UnknownTenant
    │   ├── UnknownService
    │   ├── ChannelNotAllowed
    │   ├── TrustLevelTooLow
    │   └── UnsupportedFormat
    ├── TransientError          retry with backoff; dead letter after the cap
    │   ├── UpstreamUnavailable
    │   ├── StoreUnavailable        the database is unreachable: 503, the client retries
    │   ├── CircuitOpen             the adapter's circuit breaker is open: not even tried
    │   └── BlobNotFound            a stored blob is missing (blob volume not mounted, lost):
    │                               the message is not at fault, so it is never rejected upstream
    ├── ClientError             request-level problems answered to API clients
    │   ├── MalformedRequest, AuthenticationFailed, Forbidden, NotFound, Conflict, PayloadTooLarge,
    │   ├── PreconditionFailed, TokenRequestRefused, TooManyRequests,
    │   ├── UnsupportedMediaType, IdempotencyKeyReused, InvalidRequest
    │   └── OriginalPurged          a message's raw original was deleted by the retention
    ├── ConfigurationError      bad catalog / mapping / settings, found at start-up
    ├── SealedDataInvalid       encrypted data at rest failed its integrity check
    └── AuditChainConflict      the audit sealer met an entry sealed meanwhile (internal)

:class:`Problem` is an error as it is stored (an inbox entry's last error, a reject row) and
reported upstream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

PROBLEM_BASE = "https://rathaus-gateway.de/problems/"


class GatewayError(Exception):
    """Base of all gateway errors. ``detail`` must never contain personal data."""

    slug: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal error"
    status: ClassVar[int] = 500

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions

    @property
    def type_uri(self) -> str:
        return PROBLEM_BASE + self.slug

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        problem: dict[str, Any] = {
            "type": self.type_uri,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            problem["instance"] = instance
        problem.update(self.extensions)
        return problem


class PermanentError(GatewayError):
    """Retrying the same input cannot succeed; the input goes to quarantine."""

    slug = "permanent-failure"
    title = "The message cannot be processed"
    status = 422


class InvalidPayload(PermanentError):
    slug = "invalid-payload"
    title = "Invalid payload"


class MappingFailed(PermanentError):
    slug = "mapping-failed"
    title = "The application could not be mapped to a case"


class VerificationFailed(PermanentError):
    slug = "verification-failed"
    title = "Verification of the message failed"


class UnknownTenant(PermanentError):
    slug = "unknown-tenant"
    title = "Unknown municipality"
    status = 404


class UnknownService(PermanentError):
    slug = "unknown-service"
    title = "Service not offered by this municipality"


class ChannelNotAllowed(PermanentError):
    slug = "channel-not-allowed"
    title = "Service cannot be delivered through this channel"
    status = 403


class TrustLevelTooLow(PermanentError):
    slug = "trust-level-too-low"
    title = "The applicant's login trust level is below the service's minimum"
    status = 403


class UnsupportedFormat(PermanentError):
    slug = "unsupported-format"
    title = "No mapping for this source format"


class TransientError(GatewayError):
    """A retry may succeed (network, lock, upstream outage)."""

    slug = "temporarily-unavailable"
    title = "Temporarily unavailable"
    status = 503


class UpstreamUnavailable(TransientError):
    slug = "upstream-unavailable"
    title = "An upstream system is not reachable"


class StoreUnavailable(TransientError):
    """The gateway's own database cannot be reached (restarted, network gone): the request did
    nothing durable; the client sends it again, with the same Idempotency-Key."""

    slug = "store-unavailable"
    title = "The gateway's database is not reachable"


class CircuitOpen(TransientError):
    """The adapter failed again and again: its circuit breaker lets no call through until its
    cool-down is over (gateway.health). The work waits; nothing was sent."""

    slug = "circuit-open"
    title = "The adapter's circuit breaker is open"


class BlobNotFound(TransientError):
    """Raised by the blob store, never the API's :class:`NotFound`: a blob a row refers to is
    missing. During intake that is retried and ends as a dead letter an operator looks at."""

    slug = "blob-not-found"
    title = "A stored file is missing"


class ClientError(GatewayError):
    slug = "bad-request"
    title = "Bad request"
    status = 400


class InvalidRequest(ClientError):
    slug = "invalid-request"
    title = "The request is not valid"
    status = 422


class PreconditionFailed(ClientError):
    slug = "precondition-failed"
    title = "The resource changed since the given ETag"
    status = 412


class TokenRequestRefused(ClientError):
    """An OAuth2 token request that RFC 6749 5.2 answers with 400 and an ``error`` code."""

    slug = "token-request-refused"
    title = "The token request was refused"
    status = 400


class TooManyRequests(ClientError):
    """Rate limit or lockout; ``retry_after`` (seconds) becomes the ``Retry-After`` header."""

    slug = "too-many-requests"
    title = "Too many requests"
    status = 429

    def __init__(self, detail: str, retry_after: int, **extensions: Any) -> None:
        super().__init__(detail, retry_after=retry_after, **extensions)
        self.retry_after = retry_after


class MalformedRequest(ClientError):
    slug = "malformed-json"
    title = "Malformed JSON"
    status = 400


class AuthenticationFailed(ClientError):
    slug = "unauthorized"
    title = "Authentication required"
    status = 401


class Forbidden(ClientError):
    slug = "forbidden"
    title = "Missing scope"
    status = 403


class NotFound(ClientError):
    slug = "not-found"
    title = "Not found"
    status = 404


class Conflict(ClientError):
    slug = "conflict"
    title = "Conflict"
    status = 409


class PayloadTooLarge(ClientError):
    slug = "payload-too-large"
    title = "Payload too large"
    status = 413


class UnsupportedMediaType(ClientError):
    slug = "unsupported-media-type"
    title = "Unsupported media type"
    status = 415


class IdempotencyKeyReused(ClientError):
    slug = "idempotency-key-reused"
    title = "Idempotency-Key was used for a different request"
    status = 422


class OriginalPurged(ClientError):
    """The raw original of an inbox entry was deleted by the retention (gateway/retention.py):
    the message can no longer be replayed or shown; its row stays for the audit trail."""

    slug = "original-purged"
    title = "The message's original was deleted after its retention period"
    status = 410


class ConfigurationError(GatewayError):
    """A catalog, mapping or setting is wrong; raised at start-up with file and line."""

    slug = "configuration-error"
    title = "Configuration error"
    status = 500


class AuditChainConflict(GatewayError):
    """An audit entry the sealer was about to link into its chain was sealed by someone else
    meanwhile: that chain's sealing is rolled back and left to ``audit verify`` to explain (it
    never reaches a client)."""

    slug = "audit-chain-conflict"
    title = "The audit chain changed while it was being sealed"
    status = 500


class SealedDataInvalid(GatewayError):
    """Encrypted data at rest failed its authentication (tampered, truncated, reordered, or sealed
    under another key): nothing of it is released."""

    slug = "sealed-data-invalid"
    title = "Stored data failed its integrity check"
    status = 500


ErrorClass = type[GatewayError]


def _lineage(cls: ErrorClass) -> list[ErrorClass]:
    """``cls`` and every subclass defined so far (adapters' errors included, once imported)."""
    found = [cls]
    for sub in cls.__subclasses__():
        found.extend(_lineage(sub))
    return found


@dataclass(frozen=True)
class Problem:
    """An error as it is stored and reported: the RFC 9457 members and the extensions.

    The inbox keeps it as an entry's last error and a reject row carries it, so a rejection
    upstream is built from it long after the exception is gone — never by rebuilding the
    exception (its class may take other constructor arguments)."""

    type: str
    title: str
    status: int
    detail: str
    extensions: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, exc: BaseException) -> Problem:
        if isinstance(exc, GatewayError):
            return cls.from_dict(exc.to_problem())
        # an unexpected error keeps its class only: its message may carry personal data
        return cls(type="about:blank", title="Unexpected error", status=500, detail=type(exc).__name__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Problem:
        status = data.get("status")
        return cls(type=str(data.get("type") or "about:blank"), title=str(data.get("title") or ""),
                   status=status if isinstance(status, int) else 500, detail=str(data.get("detail") or ""),
                   extensions={k: v for k, v in data.items() if k not in ("type", "title", "status", "detail")})

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "title": self.title, "status": self.status, "detail": self.detail,
                **self.extensions}

    def is_a(self, error_class: ErrorClass) -> bool:
        """Whether the recorded error was an ``error_class`` (or one of its subclasses)."""
        return any(self.type == PROBLEM_BASE + cls.slug for cls in _lineage(error_class))

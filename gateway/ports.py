"""Ports: what the core needs from the outside, as small Protocols.

Adapters (``adapters/<system>``) fill these; the core only ever sees these types.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from gateway.case.model import AccountIdentity, Case, Payment, ReplyChannel
from gateway.errors import Problem


@dataclass(frozen=True)
class InboundMessage:
    """A message exactly as a channel received it (the raw original is ``payload``)."""

    channel: str
    source_id: str
    payload: bytes
    media_type: str
    received_at: dt.datetime
    tenant_ars: str | None = None
    references: dict[str, str] = field(default_factory=dict)
    idempotency_key: str | None = None
    client_id: str | None = None
    # blobs the raw original stands for besides ``payload`` (a FIT-Connect manifest names one
    # blob per fetched part): stored beforehand by the channel, kept as long as the original
    parts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Received:
    """The inbox entry a message went into and, if already known, its case."""

    inbox_id: str
    case_id: str | None
    duplicate: bool


@dataclass(frozen=True)
class Outcome:
    """Where a message stands after (or without) processing: committed, quarantined, ..."""

    inbox_id: str
    state: str
    case: Case | None = None
    error: dict[str, object] | None = None
    duplicate: bool = False


@dataclass(frozen=True)
class StoredBlob:
    """A blob the store has made durable: its key, SHA-512 (hex) and size in bytes."""

    key: str
    sha512: str
    size: int


@dataclass(frozen=True)
class ProvisionalBlob(StoredBlob):
    """A blob stored for a request that may still be refused; ``stamp`` marks it as created by
    that store call (None: the bytes were there already, so they are never reclaimed)."""

    stamp: tuple[int, int] | None = None


@dataclass(frozen=True)
class VerifiedAttachment:
    """One verified attachment: small ones as ``content``; large ones already in the blob store
    as ``stored`` (written there with ``BlobStore.put_stream``, so they never were in memory
    whole). Exactly one of the two is given."""

    id: str
    filename: str
    media_type: str
    content: bytes | None = None
    purpose: str = "attachment"
    description: str | None = None
    declared_sha512: str | None = None
    # the SHA-512 (hex) the channel computed over exactly ``content``, if it did: the core then
    # stores the attachment under it instead of hashing the bytes a second time
    sha512: str | None = None
    stored: StoredBlob | None = None

    def __post_init__(self) -> None:
        if (self.content is None) == (self.stored is None):
            raise ValueError("a verified attachment has either its content or its stored blob")

    @property
    def size(self) -> int:
        return self.stored.size if self.stored is not None else len(self.content or b"")


@dataclass(frozen=True)
class VerifiedSubmission:
    """What a channel hands the core once decryption, signature and hash checks passed."""

    tenant_ars: str
    source_format: str
    data: bytes
    data_media_type: str
    service_leika: str | None = None
    attachments: list[VerifiedAttachment] = field(default_factory=list)
    account: AccountIdentity | None = None
    reply_channel: ReplyChannel | None = None
    payment: Payment | None = None
    submitted_at: dt.datetime | None = None
    references: dict[str, str] = field(default_factory=dict)
    # ``data`` as the channel parsed it, handed to the mapping so it is not parsed twice — only
    # a parse the mapping would have made itself (see gateway.mapping.Mapping.apply): XML
    # through gateway.safexml with limits no looser than the mapping's. Kept in memory only.
    parsed_data: Any = None


@runtime_checkable
class ChannelAdapter(Protocol):
    """A channel that turns its raw messages into verified submissions.

    A channel that must report back to its source (FIT-Connect accept/reject, XTA close) is
    also an :class:`Acknowledger`. One that is not (the portal, whose client waits for the
    HTTP answer) gets its answer in the response and no outbox rows are written for it.
    """

    name: str

    def verify(self, message: InboundMessage) -> VerifiedSubmission: ...


@dataclass(frozen=True)
class CommittedCase:
    """What an acknowledgement needs of a committed case — its identity, read from the case
    table's columns, not the whole document."""

    id: str
    reference: str
    tenant_ars: str
    service_leika: str


@runtime_checkable
class Acknowledger(Protocol):
    """Reports the outcome upstream. Called from the outbox after the case (or the quarantine
    entry) is committed, possibly again after a crash: both must be idempotent (check the
    remote state before acting). ``reject`` gets the problem recorded with the quarantine
    (type, title, detail, extensions such as a channel's own error code)."""

    def acknowledge(self, message: InboundMessage, case: CommittedCase) -> None: ...

    def reject(self, message: InboundMessage, problem: Problem) -> None: ...


@runtime_checkable
class InboundSource(Protocol):
    """A pull channel (FIT-Connect polling, XTA mailbox): yields messages the gateway has not yet
    received; the worker hands each to ``receive``. A source may have an attribute
    ``poll_interval_seconds``: the worker then polls it no more often (else at the worker's own
    interval), so that every call of ``poll`` asks upstream and its outcome (an exception or
    not) tells the source's circuit breaker how upstream is (gateway.health)."""

    name: str

    def poll(self) -> Iterable[InboundMessage]: ...


@runtime_checkable
class AnnouncingSource(InboundSource, Protocol):
    """A pull source that can also be told of a message (a callback announcing a FIT-Connect
    submission): what was announced is fetched in the worker's next round, not only at the next
    poll interval, and without asking upstream for its whole listing."""

    def announced(self) -> bool:
        """Whether announced messages wait to be fetched (a cheap local look)."""
        ...

    def poll_announced(self) -> Iterable[InboundMessage]: ...


@dataclass(frozen=True)
class Forwarding:
    """A case sent out through a channel: the remote id and the last known remote status."""

    channel: str
    target: str
    remote_id: str
    status: str


@runtime_checkable
class Sender(Protocol):
    """Sends a case (or an answer to it) to another authority through a channel.

    ``send`` must be idempotent per ``(case.id, target)``: called again after a crash it
    returns the existing forwarding instead of sending twice. ``follow`` reads the remote
    status (e.g. FIT-Connect incomplete/submitted/forwarded/accepted/rejected).
    """

    name: str

    def send(self, case: Case, target: str, blobs: BlobStore) -> Forwarding: ...

    def follow(self, forwarding: Forwarding) -> Forwarding: ...


ReplyKind = Literal["decision", "request", "notice", "status"]
DeliveryState = Literal["sent", "accepted", "delivered", "read", "failed"]


@dataclass(frozen=True)
class ReplyDocument:
    """A document of a reply (a decision's PDF), kept in the blob store."""

    id: str
    filename: str
    media_type: str
    size: int
    sha512: str
    storage_key: str


@dataclass(frozen=True)
class OutgoingReply:
    """One delivery of a reply through one reply channel: what local processing sent (a decision,
    a request for documents, a notice or a status update), the case it answers, and where this
    channel delivers it (``recipient``, as the channel's ``recipient`` named it when the reply
    was committed). ``delivery_id`` is unique per reply and channel: the channel's idempotency key."""

    reply_id: str
    delivery_id: str
    kind: ReplyKind
    title: str
    text: str
    documents: tuple[ReplyDocument, ...]
    case: Case
    recipient: str
    status: str | None = None  # a status update: the case status it reports


@dataclass(frozen=True)
class DeliveryReport:
    """Where a delivery stands on the channel's side. ``detail`` never holds personal data.
    ``final``: the channel will report nothing more about it (SMTP after the relay's 250, a
    posted letter), so the core stops following it; ``read`` and ``failed`` are final anyway."""

    state: DeliveryState
    remote_id: str | None = None
    detail: str | None = None
    final: bool = False


@runtime_checkable
class ReplyChannelAdapter(Protocol):
    """A way back to the applicant (citizen postbox, FIT-Connect reply, e-mail, XTA, hybrid mail).

    ``recipient`` says where this channel would deliver a reply to ``case`` (a postbox UUID, an
    e-mail address, an XTA party, a postal address as the channel writes it), or None when it
    cannot serve the case — the core picks the channel from the catalog's fallback order with it.
    ``deliver`` runs from the outbox, possibly again after a crash: it must be idempotent per
    ``reply.delivery_id`` (look the delivery up remotely before sending again, where the channel
    allows). Raise TransientError to be retried, PermanentError when the channel refuses the
    reply. ``follow`` reads the remote state of a delivery that is not final yet (retrieved, read,
    shipped) and returns it unchanged when nothing is known."""

    name: str

    def recipient(self, case: Case) -> str | None: ...

    def deliver(self, reply: OutgoingReply, blobs: BlobStore) -> DeliveryReport: ...

    def follow(self, reply: OutgoingReply, last: DeliveryReport) -> DeliveryReport: ...


class StateStore(Protocol):
    """Small durable state an adapter keeps across restarts and processes (sender progress,
    seen callback signatures), in the gateway's own database — shared by every process of
    the scale-out profile, unlike a local file."""

    def get(self, namespace: str, key: str) -> dict[str, object] | None: ...

    def put(self, namespace: str, key: str, value: dict[str, object], ttl_seconds: float | None = None) -> None:
        """Store (replace); with ``ttl_seconds`` the entry expires. A value with a ``blob`` member
        (a blob key) keeps that blob from the garbage collector while the entry lives."""
        ...

    def add(self, namespace: str, key: str, value: dict[str, object], ttl_seconds: float | None = None) -> bool:
        """Store only if absent (or expired); False if the key is already there."""
        ...

    def scan(self, namespace: str, prefix: str) -> list[tuple[str, dict[str, object]]]:
        """The live entries of ``namespace`` whose key starts with ``prefix``."""
        ...

    def delete(self, namespace: str, key: str) -> None: ...


class BlobStore(Protocol):
    """Content-addressed storage for originals and attachments (never inline in rows).

    Every write is durable when it returns (at the configured durability), so a transaction
    that references the key may commit. A missing blob raises ``BlobNotFound``.
    """

    def put(self, content: bytes, sha512: str | None = None) -> str:
        """Store ``content``; ``sha512`` is its digest when the caller has just computed it."""
        ...

    def put_stream(self, chunks: Iterable[bytes], sha512: str | None = None) -> StoredBlob:
        """Store a large content piece by piece, hashing while writing (bounded memory).

        ``sha512``: the digest the content must have; checked before the blob is published,
        otherwise nothing is stored and ``VerificationFailed`` is raised. An exception raised by
        ``chunks`` also stores nothing: a producer may check its content to the last chunk."""
        ...

    def put_provisional(self, chunks: Iterable[bytes]) -> ProvisionalBlob:
        """Store content a synchronous request brought before the request is accepted."""
        ...

    def reclaim(self, blob: ProvisionalBlob) -> bool:
        """Delete a refused request's provisional blob unless something else put the same bytes."""
        ...

    def get(self, key: str) -> bytes: ...

    def size(self, key: str) -> int | None:
        """The stored content's size in bytes; None if there is no such blob."""
        ...

    def open(self, key: str) -> Iterator[bytes]:
        """Read a blob as a stream of chunks (bounded memory)."""
        ...

    def exists(self, key: str) -> bool: ...


class Notifier(Protocol):
    """Delivers one outbox entry to a webhook subscriber (local processing)."""

    def deliver(self, subscriber: str, event: dict[str, object]) -> None: ...

"""The one schema both profiles share (migrations in gateway/migrations keep it in step)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

from gateway.store.crypto.columns import SealedJSON, SealedText


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Timestamps are UTC everywhere; SQLite drops the zone, so it is put back on read."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        converted: dt.datetime = value.astimezone(dt.UTC)
        return converted.replace(tzinfo=None) if dialect.name == "sqlite" else converted

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        result: dt.datetime = value
        return result.replace(tzinfo=dt.UTC) if result.tzinfo is None else result.astimezone(dt.UTC)


metadata = MetaData()

# BigInteger autoincrement is INTEGER PRIMARY KEY (rowid) on SQLite only via variant.
Seq = BigInteger().with_variant(Integer(), "sqlite")

inbox = Table(
    "inbox",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("channel", String(32), nullable=False),
    Column("source_id", String(255), nullable=False),
    Column("tenant_ars", String(12)),
    Column("client_id", String(64)),
    Column("idempotency_key", String(255)),
    Column("request_fingerprint", String(64)),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("media_type", String(255), nullable=False),
    Column("raw_key", String(200), nullable=False),
    Column("raw_sha512", String(128), nullable=False),
    Column("raw_size", BigInteger, nullable=False),
    Column("references", JSON, nullable=False),
    Column("part_keys", JSON),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime()),
    Column("last_error", JSON),
    Column("case_id", String(36)),
    Column("updated_at", UtcDateTime(), nullable=False),
    # follows the message from receipt to acknowledgement and reply (logs, outbox rows, webhooks)
    Column("correlation_id", String(64)),
    # the raw original's blob was deleted by the retention (gateway/retention): the row keeps its ids
    Column("original_purged_at", UtcDateTime()),
    UniqueConstraint("channel", "source_id", name="uq_inbox_source"),
    UniqueConstraint("client_id", "idempotency_key", name="uq_inbox_idempotency"),
)
Index("ix_inbox_state", inbox.c.state, inbox.c.next_attempt_at)
# the console's adapter overview: per channel and state, the latest first
Index("ix_inbox_channel_state", inbox.c.channel, inbox.c.state, inbox.c.updated_at)

step_results = Table(
    "step_results",
    metadata,
    Column("inbox_id", String(36), primary_key=True),
    Column("step", String(32), primary_key=True),
    Column("result", SealedJSON("step_results.result"), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
)

cases = Table(
    "cases",
    metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("inbox_id", String(36), nullable=False, unique=True),
    Column("tenant_ars", String(12), nullable=False),
    Column("reference", String(32), nullable=False, unique=True),
    Column("service_leika", String(14), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("routing_queue", String(64), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("version", Integer, nullable=False),
    Column("document", SealedText("cases.document"), nullable=False),
    Column("xid", BigInteger, nullable=False),  # the writing transaction (gateway/store/case_repo.py)
    # when the case reached a final status (closed, withdrawn): its retention period runs from here
    Column("closed_at", UtcDateTime()),
)
# the feed's order, for all municipalities and for one
Index("ix_cases_feed", cases.c.xid, cases.c.seq)
Index("ix_cases_tenant_feed", cases.c.tenant_ars, cases.c.xid, cases.c.seq)
Index("ix_cases_filter", cases.c.tenant_ars, cases.c.status, cases.c.service_leika, cases.c.seq)
# the console's case search, newest first: one per filter it can lead with (gateway/console/case_search.py)
Index("ix_cases_received", cases.c.tenant_ars, cases.c.received_at, cases.c.seq)
Index("ix_cases_status_received", cases.c.tenant_ars, cases.c.status, cases.c.received_at, cases.c.seq)
Index("ix_cases_service_received", cases.c.tenant_ars, cases.c.service_leika, cases.c.received_at, cases.c.seq)
Index("ix_cases_closed", cases.c.closed_at)

reference_counters = Table(
    "reference_counters",
    metadata,
    Column("tenant_ars", String(12), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("last", Integer, nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("type", String(64), nullable=False),
    Column("case_id", String(36), nullable=False),
    Column("tenant_ars", String(12), nullable=False),
    Column("time", UtcDateTime(), nullable=False),
    Column("data", JSON, nullable=False),
    Column("xid", BigInteger, nullable=False),
)
Index("ix_events_feed", events.c.xid, events.c.seq)
Index("ix_events_tenant_feed", events.c.tenant_ars, events.c.xid, events.c.seq)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Seq, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("target", String(128), nullable=False),
    Column("inbox_id", String(36)),
    Column("case_id", String(36)),
    Column("event_seq", BigInteger),
    Column("payload", JSON, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime(), nullable=False),
    Column("lease_until", UtcDateTime()),
    Column("last_error", Text),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("done_at", UtcDateTime()),
    Column("correlation_id", String(64)),
)
Index("ix_outbox_due", outbox.c.state, outbox.c.next_attempt_at)

jobs = Table(
    "jobs",
    metadata,
    Column("id", Seq, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("ref", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("available_at", UtcDateTime(), nullable=False),
    Column("lease_until", UtcDateTime()),
    Column("locked_by", String(64)),
    Column("last_error", Text),
    Column("created_at", UtcDateTime(), nullable=False),
)
Index("ix_jobs_due", jobs.c.state, jobs.c.available_at)

audit = Table(
    "audit",
    metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("tenant_ars", String(12)),
    Column("case_id", String(36)),
    Column("inbox_id", String(36)),
    Column("details", JSON, nullable=False),
    # the hash chain (gateway.events.audit_chain): per municipality, "-" for entries without one
    Column("chain", String(12), nullable=False),
    # set once, by the sealer (gateway.events.audit_sealer); NULL until then ("unsealed")
    Column("position", BigInteger),
    Column("prev_hash", String(64)),
    Column("hash", String(64)),
    # the writing transaction (as on cases): the sealer links entries in (xid, seq) order
    Column("xid", BigInteger, nullable=False),
    # a new column must join the list the sealing trigger keeps unchanged (migration 0013)
)
Index("ux_audit_chain_position", audit.c.chain, audit.c.position, unique=True)
# what the sealer looks for every worker round: small, and empty when all is sealed
Index("ix_audit_unsealed", audit.c.chain, audit.c.xid, audit.c.seq,
      postgresql_where=audit.c.hash.is_(None), sqlite_where=audit.c.hash.is_(None))

# The newest sealed entry of each chain: its row is the lock sealers of that chain take in turn.
audit_heads = Table(
    "audit_heads",
    metadata,
    Column("chain", String(12), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("at", UtcDateTime()),
)

adapter_state = Table(
    "adapter_state",
    metadata,
    Column("namespace", String(64), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", JSON, nullable=False),
    Column("expires_at", UtcDateTime()),
    Column("updated_at", UtcDateTime(), nullable=False),
)

forwardings = Table(
    "forwardings",
    metadata,
    Column("case_id", String(36), primary_key=True),
    Column("channel", String(32), primary_key=True),
    Column("target", String(255), primary_key=True),
    Column("remote_id", String(255)),
    Column("status", String(32), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# One row per adapter instance (kind + name): its circuit breaker and recent calls, written by
# the worker processes and read by the API process (gateway.health).
adapter_health = Table(
    "adapter_health",
    metadata,
    Column("kind", String(32), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("circuit", String(16), nullable=False),
    Column("consecutive_failures", Integer, nullable=False),
    Column("trips", Integer, nullable=False),
    Column("opened_at", UtcDateTime()),
    Column("retry_at", UtcDateTime()),
    Column("probe_until", UtcDateTime()),
    Column("last_success_at", UtcDateTime()),
    Column("last_failure_at", UtcDateTime()),
    Column("last_error_type", String(255)),
    Column("last_error_title", String(255)),
    Column("window_started_at", UtcDateTime(), nullable=False),
    Column("window_calls", Integer, nullable=False),
    Column("window_failures", Integer, nullable=False),
    Column("previous_calls", Integer, nullable=False),
    Column("previous_failures", Integer, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# Replies to the applicant (gateway/replies): a reply, its deliveries (one per reply and channel)
# and, where no channel can carry it, its "send by post" task.
replies = Table(
    "replies",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("case_id", String(36), nullable=False),
    Column("tenant_ars", String(12), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("title", SealedText("replies.title"), nullable=False),
    Column("text", SealedText("replies.text"), nullable=False),
    Column("status", String(16)),
    Column("documents", SealedJSON("replies.documents"), nullable=False),  # file names may name the applicant
    Column("plan", JSON, nullable=False),
    Column("explicit_channel", String(32)),
    Column("client_id", String(64)),
    Column("idempotency_key", String(255)),
    Column("request_fingerprint", String(64), nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("client_id", "idempotency_key", name="uq_replies_idempotency"),
)
Index("ix_replies_case", replies.c.case_id, replies.c.created_at)

reply_deliveries = Table(
    "reply_deliveries",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("reply_id", String(36), nullable=False),
    Column("case_id", String(36), nullable=False),
    Column("tenant_ars", String(12), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("recipient", SealedText("reply_deliveries.recipient"), nullable=False),
    Column("state", String(16), nullable=False),
    Column("remote_id", String(255)),
    Column("detail", String(500)),
    Column("problem", JSON),
    Column("attempts", Integer, nullable=False, default=0),
    Column("outbox_id", BigInteger),
    Column("history", JSON, nullable=False),
    Column("follow_at", UtcDateTime()),
    Column("follow_round", Integer, nullable=False, default=0),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("reply_id", "channel", name="uq_reply_deliveries_channel"),
)
Index("ix_reply_deliveries_follow", reply_deliveries.c.follow_at)
Index("ix_reply_deliveries_state", reply_deliveries.c.state, reply_deliveries.c.tenant_ars)

reply_post_tasks = Table(
    "reply_post_tasks",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("reply_id", String(36), nullable=False, unique=True),
    Column("case_id", String(36), nullable=False),
    Column("tenant_ars", String(12), nullable=False),
    Column("state", String(16), nullable=False),
    Column("reason", JSON, nullable=False),
    Column("note", String(1000)),
    Column("closed_by", String(128)),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)
Index("ix_reply_post_tasks_state", reply_post_tasks.c.state, reply_post_tasks.c.tenant_ars)

# Blobs in the database (gateway/store/db_blobs.py): one row per blob, its bytes in chunks of an
# upload; an upload not yet published as a blob is a staging area the garbage collector clears.
blobs = Table(
    "blobs",
    metadata,
    Column("key", String(135), primary_key=True),
    Column("upload", BigInteger, nullable=False, unique=True),
    Column("size", BigInteger, nullable=False),
    Column("touched_ns", BigInteger, nullable=False),  # written or put again: the collector's age
)

blob_uploads = Table(
    "blob_uploads",
    metadata,
    Column("upload", BigInteger, primary_key=True, autoincrement=False),
    Column("started_ns", BigInteger, nullable=False),
)

blob_chunks = Table(
    "blob_chunks",
    metadata,
    Column("upload", BigInteger, primary_key=True, autoincrement=False),
    Column("n", Integer, primary_key=True, autoincrement=False),
    Column("data", LargeBinary, nullable=False),
)

# Data keys (gateway/store/crypto): random AES-256 keys, wrapped under a master key of the
# configuration; personal-data columns and blobs are sealed under them.
data_keys = Table(
    "data_keys",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("scope", String(32), nullable=False),
    Column("master_key_id", String(64), nullable=False),
    Column("wrapped", String(128), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("rewrapped_at", UtcDateTime()),
)
Index("ix_data_keys_scope", data_keys.c.scope, data_keys.c.created_at)

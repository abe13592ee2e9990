"""Writes an event to the log and one outbox row per interested webhook, in the
caller's transaction: either the case change and its notifications commit, or neither."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection

from gateway.case.model import Case
from gateway.config import WebhookConfig
from gateway.store import case_repo, outbox_repo
from gateway.store.db import UnitOfWork


def publish(uow: UnitOfWork, webhooks: list[WebhookConfig], case: Case, event: dict[str, Any],
            now: dt.datetime) -> int:
    return publish_event(uow.conn, webhooks, str(case.id), case.tenant.ars, event, now)


def publish_event(conn: Connection, webhooks: list[WebhookConfig], case_id: str, tenant_ars: str,
                  event: dict[str, Any], now: dt.datetime) -> int:
    """:func:`publish` for callers that know the case by its id and municipality only."""
    seq = case_repo.append_event(conn, event, case_id, tenant_ars, now)
    for hook in webhooks:
        if event["type"] not in hook.events:
            continue
        if hook.tenants is not None and tenant_ars not in hook.tenants:
            continue
        outbox_repo.add(conn, kind="webhook", target=hook.name, payload=event, now=now,
                        case_id=case_id, event_seq=seq)
    return seq

"""Writes an event to the log and one outbox row per interested webhook, in the
caller's transaction: either the case change and its notifications commit, or neither."""

from __future__ import annotations

import datetime as dt
from typing import Any

from gateway.case.model import Case
from gateway.config import WebhookConfig
from gateway.store import case_repo, outbox_repo
from gateway.store.db import UnitOfWork


def publish(uow: UnitOfWork, webhooks: list[WebhookConfig], case: Case, event: dict[str, Any],
            now: dt.datetime) -> int:
    seq = case_repo.append_event(uow.conn, event, str(case.id), case.tenant.ars, now)
    for hook in webhooks:
        if event["type"] not in hook.events:
            continue
        if hook.tenants is not None and case.tenant.ars not in hook.tenants:
            continue
        outbox_repo.add(uow.conn, kind="webhook", target=hook.name, payload=event, now=now,
                        case_id=str(case.id), event_seq=seq)
    return seq

"""What a reply's life writes, always inside the caller's transaction: a delivery queued with its
outbox row, a state change with its event, webhook rows and audit entry, the hand-over to the
next channel when one fails, and the "send by post" task when none is left.

Every write here goes with the change that causes it (the reply's commit, the outbox row's
finish, a follow-up's result), so a crash leaves either both or neither."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection

from gateway.adapter_registry import Registry
from gateway.case.model import Case
from gateway.config import RepliesSettings, WebhookConfig
from gateway.events import audit
from gateway.events.cloudevents import CASE_REPLY_POST_TASK, reply_event
from gateway.events.publish import publish_event
from gateway.ports import CommittedCase, ReplyChannelAdapter
from gateway.replies.routing import Route, first_possible
from gateway.replies.states import EVENT_TYPE, FINAL, FOLLOWED, advances
from gateway.store import case_repo, outbox_repo, reply_repo
from gateway.store.reply_repo import DeliveryRow, PostTaskRow, ReplyRow

OUTBOX_KIND = "reply"
MAX_HISTORY = 50


def _committed(conn: Connection, case_id: str) -> CommittedCase:
    committed = case_repo.committed(conn, case_id)
    assert committed is not None, "a reply points to a missing case"
    return committed


def _entry(state: str, at: dt.datetime, **extra: Any) -> dict[str, Any]:
    return {"state": state, "at": at.isoformat(), **{k: v for k, v in extra.items() if v is not None}}


def _appended(history: list[dict[str, Any]], entry: dict[str, Any]) -> list[dict[str, Any]]:
    # the first entry (queued) and the latest ones: enough to tell the story, bounded in size
    entries = [*history, entry]
    return entries if len(entries) <= MAX_HISTORY else [entries[0], *entries[-(MAX_HISTORY - 1):]]


class Ledger:
    def __init__(self, *, webhooks: list[WebhookConfig], channels: Registry[ReplyChannelAdapter],
                 settings: RepliesSettings) -> None:
        self.webhooks, self.channels, self.settings = webhooks, channels, settings

    def _publish(self, conn: Connection, case: CommittedCase, event_type: str, data: dict[str, Any],
                 now: dt.datetime) -> None:
        publish_event(conn, self.webhooks, case.id, case.tenant_ars, reply_event(event_type, case, now, data), now)

    def queue(self, conn: Connection, reply: ReplyRow, route: Route, now: dt.datetime, actor: str) -> DeliveryRow:
        """A new delivery of ``reply`` through ``route`` and the outbox row that will deliver it."""
        delivery = DeliveryRow(
            id=str(uuid.uuid4()), reply_id=reply.id, case_id=reply.case_id, tenant_ars=reply.tenant_ars,
            channel=route.channel, recipient=route.recipient, state="queued", remote_id=None, detail=None,
            problem=None, attempts=0, history=[_entry("queued", now)], follow_at=None, follow_round=0,
            created_at=now, updated_at=now, outbox_id=None)
        outbox_id = outbox_repo.add(conn, kind=OUTBOX_KIND, target=route.channel,
                                    payload={"delivery_id": delivery.id}, now=now, case_id=reply.case_id)
        delivery = replace(delivery, outbox_id=outbox_id)
        reply_repo.insert_delivery(conn, delivery)
        self._publish(conn, _committed(conn, reply.case_id), EVENT_TYPE["queued"],
                      {"reply_id": reply.id, "kind": reply.kind, "delivery_id": delivery.id,
                       "channel": route.channel, "state": "queued"}, now)
        audit.record(conn, at=now, actor=actor, action="reply.delivery", tenant_ars=reply.tenant_ars,
                     case_id=reply.case_id, details={"reply_id": reply.id, "delivery_id": delivery.id,
                                                     "channel": route.channel, "state": "queued"})
        return delivery

    def open_post_task(self, conn: Connection, reply: ReplyRow, reason: dict[str, Any], now: dt.datetime,
                       actor: str) -> PostTaskRow:
        """No channel can carry ``reply`` (any more): a person prints and posts it."""
        task = PostTaskRow(id=str(uuid.uuid4()), reply_id=reply.id, case_id=reply.case_id,
                           tenant_ars=reply.tenant_ars, state="open", reason=reason, note=None, closed_by=None,
                           created_at=now, updated_at=now)
        reply_repo.insert_post_task(conn, task)
        self.post_task_event(conn, reply, task, now, actor)
        return task

    def post_task_event(self, conn: Connection, reply: ReplyRow, task: PostTaskRow, now: dt.datetime,
                        actor: str) -> None:
        self._publish(conn, _committed(conn, reply.case_id), CASE_REPLY_POST_TASK,
                      {"reply_id": reply.id, "kind": reply.kind, "post_task_id": task.id, "channel": "post",
                       "state": task.state}, now)
        audit.record(conn, at=now, actor=actor, action="reply.post_task", tenant_ars=reply.tenant_ars,
                     case_id=reply.case_id, details={"reply_id": reply.id, "post_task_id": task.id,
                                                     "state": task.state})

    def change(self, conn: Connection, delivery: DeliveryRow, state: str, now: dt.datetime, *, actor: str,
               remote_id: str | None = None, detail: str | None = None, problem: dict[str, Any] | None = None,
               final: bool = False, attempts: int | None = None, note: str | None = None) -> DeliveryRow | None:
        """Records the delivery's new state (None if it is no news): the row, its history, the
        event and the audit entry. A state the channel may still change is followed from now on."""
        if not advances(delivery.state, state):
            return None
        follows = state in FOLLOWED and not final and state not in FINAL
        changed = replace(
            delivery, state=state, remote_id=remote_id or delivery.remote_id, detail=detail or delivery.detail,
            problem=problem if state in ("failed", "dead") else None,
            attempts=attempts if attempts is not None else delivery.attempts,
            history=_appended(delivery.history, _entry(state, now, detail=detail, note=note,
                                                       problem=problem.get("type") if problem else None)),
            follow_at=now + dt.timedelta(seconds=self.settings.follow_interval_seconds) if follows else None,
            follow_round=0, updated_at=now)
        reply_repo.update_delivery(conn, delivery.id, state=changed.state, remote_id=changed.remote_id,
                                   detail=changed.detail, problem=changed.problem, attempts=changed.attempts,
                                   history=changed.history, follow_at=changed.follow_at, follow_round=0,
                                   updated_at=now)
        data: dict[str, Any] = {"reply_id": delivery.reply_id, "delivery_id": delivery.id,
                                "channel": delivery.channel, "state": state}
        if remote_id or delivery.remote_id:
            data["remote_id"] = remote_id or delivery.remote_id
        if problem:
            data["problem"] = {k: problem[k] for k in ("type", "title", "status", "detail") if k in problem}
        self._publish(conn, _committed(conn, delivery.case_id), EVENT_TYPE[state], data, now)
        audit.record(conn, at=now, actor=actor, action="reply.delivery", tenant_ars=delivery.tenant_ars,
                     case_id=delivery.case_id, details={"reply_id": delivery.reply_id, "delivery_id": delivery.id,
                                                        "channel": delivery.channel, "state": state,
                                                        "problem": problem.get("type") if problem else None})
        return changed

    def requeue(self, conn: Connection, delivery: DeliveryRow, now: dt.datetime, actor: str) -> None:
        """A dead delivery goes back to the outbox (its row revived by the caller)."""
        self.change(conn, delivery, "queued", now, actor=actor, note="replayed")

    def note(self, conn: Connection, delivery: DeliveryRow, now: dt.datetime, *, attempts: int,
             problem: dict[str, Any] | None, note: str) -> None:
        """Something worth knowing that is no new state (a failed attempt that will be retried)."""
        reply_repo.update_delivery(conn, delivery.id, attempts=attempts, problem=problem, updated_at=now,
                                   history=_appended(delivery.history, _entry(delivery.state, now, note=note,
                                                     problem=problem.get("type") if problem else None)))

    def hand_over(self, conn: Connection, reply: ReplyRow, case: Case, failed: DeliveryRow, now: dt.datetime,
                  actor: str) -> DeliveryRow | PostTaskRow:
        """``failed`` could not carry the reply: the next channel of the reply's plan that can serve
        the case takes it, or, when none is left, a "send by post" task."""
        tried = {d.channel for d in reply_repo.deliveries_of(conn, [reply.id])}
        route, passed_over = first_possible(reply.plan, case, self.channels, skip=tried)
        if route is not None:
            return self.queue(conn, reply, route, now, actor)
        return self.open_post_task(conn, reply, {"failed": sorted(tried), "passed_over": passed_over}, now, actor)

    def follow_later(self, conn: Connection, delivery: DeliveryRow, now: dt.datetime) -> None:
        """Nothing new: ask again later, less often each time, and no longer than ``follow_days``."""
        if (now - delivery.created_at).total_seconds() > self.settings.follow_days * 86400:
            reply_repo.update_delivery(conn, delivery.id, follow_at=None)
            return
        rounds = delivery.follow_round + 1
        wait = min(self.settings.follow_max_interval_seconds,
                   self.settings.follow_interval_seconds * 2 ** min(rounds, 30))
        reply_repo.update_delivery(conn, delivery.id, follow_at=now + dt.timedelta(seconds=wait),
                                   follow_round=rounds)

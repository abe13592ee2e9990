"""The worker's follow-up on deliveries whose remote state may still change (sent, accepted,
delivered): each is claimed when due, its channel's ``follow`` is asked, and news is recorded
(a failure hands the reply to the next channel). Without news the next look comes later each
time (``replies.follow_interval_seconds`` doubling up to ``follow_max_interval_seconds``), and
after ``follow_days`` not at all."""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable
from typing import cast

from gateway.adapter_registry import Adapters
from gateway.config import RepliesSettings
from gateway.errors import PermanentError, Problem
from gateway.health.model import REPLY_CHANNEL, AdapterKey
from gateway.health.recorder import HealthRecorder
from gateway.ports import DeliveryReport, DeliveryState
from gateway.replies.ledger import Ledger
from gateway.replies.outgoing import outgoing
from gateway.replies.states import advances
from gateway.store import case_repo, reply_repo
from gateway.store.db import Database
from gateway.store.reply_repo import DeliveryRow

log = logging.getLogger(__name__)


class ReplyFollower:
    def __init__(self, db: Database, adapters: Adapters, ledger: Ledger, settings: RepliesSettings,
                 clock: Callable[[], dt.datetime], health: HealthRecorder) -> None:
        self.db, self.adapters, self.ledger, self.settings, self.clock = db, adapters, ledger, settings, clock
        self.health = health

    def follow(self, limit: int = 20) -> int:
        """One round over the due deliveries; the number whose state changed."""
        now = self.clock()
        with self.db.transaction() as uow:
            due = reply_repo.claim_follow_due(uow.conn, now, now + dt.timedelta(
                seconds=self.settings.follow_lease_seconds), limit)
        return sum(1 for delivery in due if self._follow(delivery))

    def _follow(self, delivery: DeliveryRow) -> bool:
        with self.db.reading() as conn:
            reply = reply_repo.get_reply(conn, delivery.reply_id)
            case = case_repo.get_case(conn, delivery.case_id)
        assert reply is not None and case is not None, "a delivery points to a missing reply or case"
        report: DeliveryReport | None = None
        refusal: Problem | None = None
        if delivery.channel in self.adapters.reply_channels:  # else: configured again later, perhaps
            last = DeliveryReport(state=cast(DeliveryState, delivery.state), remote_id=delivery.remote_id,
                                  detail=delivery.detail)
            try:
                channel = self.adapters.reply_channels.get(delivery.channel)
                report = self.health.call(AdapterKey(REPLY_CHANNEL, delivery.channel),
                                          functools.partial(channel.follow, outgoing(reply, delivery, case), last))
            except PermanentError as exc:
                refusal = Problem.of(exc)
            except Exception as exc:  # the channel is down: ask again later
                log.warning("following reply delivery %s (%s) failed: %s", delivery.id, delivery.channel,
                            type(exc).__name__)
        if report is not None and report.state == "failed":
            refusal = Problem(type="about:blank", title="The reply channel reports the delivery as failed",
                              status=502, detail=(report.detail or "failed")[:500])
        now = self.clock()
        actor = f"channel:{delivery.channel}"
        with self.db.transaction() as uow:
            current = reply_repo.get_delivery(uow.conn, delivery.id)
            assert current is not None
            if refusal is not None and advances(current.state, "failed"):
                self.ledger.change(uow.conn, current, "failed", now, actor=actor, problem=refusal.to_dict())
                self.ledger.hand_over(uow.conn, reply, case, current, now, actor)
                return True
            if report is not None and refusal is None and (advances(current.state, report.state) or report.final):
                changed = self.ledger.change(uow.conn, current, report.state, now, actor=actor,
                                             remote_id=report.remote_id, detail=report.detail, final=report.final)
                if changed is None:  # the same state, now final: stop following
                    reply_repo.update_delivery(uow.conn, current.id, follow_at=None)
                return changed is not None
            self.ledger.follow_later(uow.conn, current, now)
        return False

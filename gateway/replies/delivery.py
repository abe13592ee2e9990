"""The outbox handler of ``reply`` rows: one delivery through its reply channel.

``deliver`` runs outside any transaction and asks the channel; what the channel answered is
recorded by ``delivered`` in the transaction that marks the outbox row done (one commit per
delivery). A channel that refuses the reply (PermanentError) fails the delivery and the next
channel of the reply's plan takes over in that same transaction (or a "send by post" task
opens). A channel that is down (TransientError) is retried by the dispatcher with backoff;
``failed`` notes each failed attempt and, after the last one, makes the delivery dead.

Exactly once per reply and channel: the delivery row is unique per (reply, channel) and has one
outbox row; after a crash the row is claimed again and the channel, asked again with the same
``delivery_id``, finds what it sent before (each channel's own idempotency, see its adapter).
A claim that starts after an earlier claim ended without any result is noted on the delivery
("in doubt"): that earlier attempt may or may not have reached the channel."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from gateway.adapter_registry import Adapters
from gateway.case.model import Case
from gateway.errors import PermanentError, Problem
from gateway.health.model import REPLY_CHANNEL
from gateway.ports import BlobStore, DeliveryReport
from gateway.replies.ledger import Ledger
from gateway.replies.outgoing import outgoing
from gateway.store import case_repo, reply_repo
from gateway.store.db import Database
from gateway.store.outbox_repo import OutboxRow
from gateway.store.reply_repo import DeliveryRow, ReplyRow

log = logging.getLogger(__name__)
IN_DOUBT = "an earlier attempt ended without a result (the worker stopped?); the channel was asked again"


@dataclass(frozen=True)
class _Answer:
    """What the channel answered to one claim of a row, kept until the row is finished."""

    token: int  # the claim (the row's attempts)
    reply: ReplyRow
    case: Case
    report: DeliveryReport | None
    refusal: Problem | None
    in_doubt: bool


def _refusal_of(report: DeliveryReport) -> Problem:
    return Problem(type="about:blank", title="The reply channel reports the delivery as failed", status=502,
                   detail=(report.detail or "failed")[:500])


class ReplyHandler:
    adapter_kind = REPLY_CHANNEL  # the breaker reply rows go through: their channel's (gateway.health)

    def __init__(self, db: Database, blobs: BlobStore, adapters: Adapters, ledger: Ledger) -> None:
        self.db, self.blobs, self.adapters, self.ledger = db, blobs, adapters, ledger
        self._answers: dict[int, _Answer] = {}

    def _load(self, row: OutboxRow) -> tuple[DeliveryRow, ReplyRow, Case]:
        with self.db.reading() as conn:
            delivery = reply_repo.get_delivery(conn, str(row.payload["delivery_id"]))
            reply = reply_repo.get_reply(conn, delivery.reply_id) if delivery else None
            case = case_repo.get_case(conn, delivery.case_id) if delivery else None
        assert delivery is not None and reply is not None and case is not None, \
            "a reply outbox row points to a missing delivery, reply or case"
        return delivery, reply, case

    def deliver(self, row: OutboxRow) -> None:
        self._answers.pop(row.id, None)  # an answer of an earlier claim whose finish was lost
        delivery, reply, case = self._load(row)
        if delivery.state not in ("queued", "dead"):
            return  # recorded already: nothing to do but finish the row
        channel = self.adapters.reply_channels.get(row.target)
        in_doubt = row.attempts > 1 and row.last_error is None
        report: DeliveryReport | None = None
        refusal: Problem | None = None
        try:
            report = channel.deliver(outgoing(reply, delivery, case), self.blobs)
        except PermanentError as exc:
            refusal = Problem.of(exc)
        if report is not None and report.state == "failed":
            refusal, report = _refusal_of(report), None
        self._answers[row.id] = _Answer(row.attempts, reply, case, report, refusal, in_doubt)

    def delivered(self, conn: Connection, row: OutboxRow, now: dt.datetime) -> None:
        answer = self._answers.pop(row.id, None)
        if answer is None or answer.token != row.attempts:
            return
        delivery = reply_repo.get_delivery(conn, str(row.payload["delivery_id"]))
        assert delivery is not None
        actor = f"channel:{delivery.channel}"
        note = IN_DOUBT if answer.in_doubt else None
        if answer.refusal is not None:
            failed = self.ledger.change(conn, delivery, "failed", now, actor=actor, problem=answer.refusal.to_dict(),
                                        attempts=row.attempts, note=note)
            if failed is not None:  # once: the hand-over goes with the failure it follows
                self.ledger.hand_over(conn, answer.reply, answer.case, failed, now, actor)
            return
        report = answer.report
        assert report is not None
        self.ledger.change(conn, delivery, report.state, now, actor=actor, remote_id=report.remote_id,
                           detail=report.detail, final=report.final, attempts=row.attempts, note=note)

    def failed(self, conn: Connection, row: OutboxRow, problem: Problem, buried: bool, now: dt.datetime) -> None:
        self._answers.pop(row.id, None)
        delivery = reply_repo.get_delivery(conn, str(row.payload.get("delivery_id")))
        if delivery is None:
            return
        shown: dict[str, Any] = problem.to_dict()
        if buried:
            self.ledger.change(conn, delivery, "dead", now, actor="outbox", problem=shown, attempts=row.attempts,
                               note=f"given up after {row.attempts} attempts")
        else:
            self.ledger.note(conn, delivery, now, attempts=row.attempts, problem=shown,
                             note=f"attempt {row.attempts} failed, will be retried")

    def revived(self, conn: Connection, row: OutboxRow, now: dt.datetime) -> None:
        delivery = reply_repo.get_delivery(conn, str(row.payload.get("delivery_id")))
        if delivery is not None:
            self.ledger.requeue(conn, delivery, now, "admin")

"""What local processing does with replies: send one (commit the reply, its first delivery and
that delivery's outbox row — or its "send by post" task — in one transaction), read them, close
"send by post" tasks; and what an admin does: see dead deliveries and replay them."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from gateway.adapter_registry import Adapters
from gateway.case.model import Case
from gateway.catalog import Catalog
from gateway.config import Settings
from gateway.errors import IdempotencyKeyReused, InvalidRequest, NotFound
from gateway.events import audit
from gateway.ports import BlobStore, StateStore
from gateway.replies import documents
from gateway.replies.ledger import Ledger
from gateway.replies.request import ReplyRequest, fingerprint
from gateway.replies.routing import Route, first_possible, plan, preferred_channel, recipient_of
from gateway.replies.views import (
    CaseView,
    DeliveryAdminView,
    PostTaskItem,
    PostTaskView,
    ReplyView,
    delivery_admin_view,
    documents_view,
    post_task_view,
    reply_view,
)
from gateway.store import case_repo, outbox_repo, reply_repo
from gateway.store.db import Database
from gateway.store.reply_repo import ReplyRow


@dataclass(frozen=True)
class Submitted:
    reply: ReplyView
    replayed: bool  # the same request was sent before (Idempotency-Key): nothing new was committed


class ReplyService:
    def __init__(self, *, db: Database, blobs: BlobStore, state: StateStore, catalog: Catalog, adapters: Adapters,
                 settings: Settings, ledger: Ledger, clock: Callable[[], dt.datetime]) -> None:
        self.db, self.blobs, self.state, self.catalog = db, blobs, state, catalog
        self.adapters, self.settings, self.ledger, self.clock = adapters, settings, ledger, clock

    def _case(self, case_id: str, tenants: list[str] | None) -> Case:
        with self.db.reading() as conn:
            case = case_repo.get_case(conn, case_id)
        if case is None or (tenants is not None and case.tenant.ars not in tenants):
            raise NotFound("no such case")
        return case

    # -- sending -------------------------------------------------------------------------
    def submit(self, case_id: str, request: ReplyRequest, parts: dict[str, bytes], *, client_id: str,
               idempotency_key: str | None, tenants: list[str] | None) -> Submitted:
        case = self._case(case_id, tenants)
        digests = documents.digests(request, parts, self.settings.replies)
        request_fingerprint = fingerprint(case_id, request, digests)
        if idempotency_key is not None:
            earlier = self._earlier(client_id, idempotency_key, request_fingerprint)
            if earlier is not None:  # its uploads are used up by now: the replay needs none
                return earlier
        order, route, passed_over = self._route(case, request)
        stored = documents.store(request, parts, digests, self.blobs, self.state, client_id)
        now = self.clock()
        reply = ReplyRow(
            id=str(uuid.uuid4()), case_id=case_id, tenant_ars=case.tenant.ars, kind=request.kind,
            title=request.title, text=request.text,
            status=(request.status or case.status).value if request.kind == "status" else None,
            documents=stored, plan=order, explicit_channel=request.channel, client_id=client_id,
            idempotency_key=idempotency_key, request_fingerprint=request_fingerprint,
            created_by=f"client:{client_id}", created_at=now)
        try:
            with self.db.transaction() as uow:
                reply_repo.insert_reply(uow.conn, reply)
                if route is not None:
                    self.ledger.queue(uow.conn, reply, route, now, reply.created_by)
                else:
                    self.ledger.open_post_task(uow.conn, reply, {"failed": [], "passed_over": passed_over}, now,
                                               reply.created_by)
                audit.record(uow.conn, at=now, actor=reply.created_by, action="reply.created",
                             tenant_ars=reply.tenant_ars, case_id=case_id,
                             details={"reply_id": reply.id, "kind": reply.kind, "documents": len(stored),
                                      "plan": order})
        except IntegrityError:
            # the same Idempotency-Key committed by a concurrent request just now
            if idempotency_key is None:
                raise
            earlier = self._earlier(client_id, idempotency_key, request_fingerprint)
            if earlier is None:
                raise
            return earlier
        documents.release(self.state, client_id, [d.sha512 for d in request.documents
                                                  if d.id not in parts and d.sha512 is not None])
        return Submitted(self.reply(case_id, reply.id, None), replayed=False)

    def _earlier(self, client_id: str, idempotency_key: str, request_fingerprint: str) -> Submitted | None:
        with self.db.reading() as conn:
            earlier = reply_repo.reply_by_key(conn, client_id, idempotency_key)
        if earlier is None:
            return None
        if earlier.request_fingerprint != request_fingerprint:
            raise IdempotencyKeyReused("this Idempotency-Key was used for another reply")
        return Submitted(self.reply(earlier.case_id, earlier.id, None), replayed=True)

    def _route(self, case: Case, request: ReplyRequest) -> tuple[list[str], Route | None, list[dict[str, Any]]]:
        allowed = self.catalog.reply_policy(case.tenant.ars, case.service.leika).channels_for(request.kind)
        channels = self.adapters.reply_channels
        if request.channel is None:
            order = plan(allowed, preferred_channel(case))
            route, passed_over = first_possible(order, case, channels)
            return order, route, passed_over
        if request.channel not in allowed:
            raise InvalidRequest(f"channel {request.channel!r} may not carry {request.kind} replies of this "
                                 "service", channel=request.channel, allowed=allowed)
        recipient, why = recipient_of(channels, request.channel, case)
        if recipient is None:
            raise InvalidRequest(f"channel {request.channel!r} cannot reach the applicant of this case ({why})",
                                 channel=request.channel)
        return [request.channel], Route(request.channel, recipient), []

    def upload(self, content: bytes, client_id: str) -> tuple[str, int]:
        """A document uploaded before its reply: its SHA-512 and size."""
        return documents.upload(self.blobs, self.state, self.settings.replies, client_id, content)

    # -- reading ---------------------------------------------------------------------------
    def replies(self, case_id: str, tenants: list[str] | None) -> list[ReplyView]:
        self._case(case_id, tenants)
        return self._views(case_id)

    def _views(self, case_id: str) -> list[ReplyView]:
        with self.db.reading() as conn:
            rows = reply_repo.replies_of_case(conn, case_id)
            ids = [r.id for r in rows]
            deliveries = reply_repo.deliveries_of(conn, ids)
            tasks = {t.reply_id: t for t in reply_repo.post_tasks_of(conn, ids)}
        return [reply_view(r, deliveries, tasks.get(r.id)) for r in rows]

    def reply(self, case_id: str, reply_id: str, tenants: list[str] | None) -> ReplyView:
        if tenants is not None:
            self._case(case_id, tenants)
        with self.db.reading() as conn:
            row = reply_repo.get_reply(conn, reply_id)
            if row is None or row.case_id != case_id:
                raise NotFound("no such reply")
            deliveries = reply_repo.deliveries_of(conn, [row.id])
            tasks = reply_repo.post_tasks_of(conn, [row.id])
        return reply_view(row, deliveries, tasks[0] if tasks else None)

    def case_view(self, case: Case) -> CaseView:
        return CaseView(**dict(case), replies=self._views(str(case.id)))

    def document(self, case_id: str, reply_id: str, document_id: str, tenants: list[str] | None) -> dict[str, Any]:
        self._case(case_id, tenants)
        with self.db.reading() as conn:
            row = reply_repo.get_reply(conn, reply_id)
        found = next((d for d in row.documents if d["id"] == document_id), None) if row and row.case_id == case_id \
            else None
        if found is None:
            raise NotFound("no such document")
        return found

    # -- "send by post" tasks ----------------------------------------------------------------
    def post_tasks(self, state: str, tenants: list[str] | None, limit: int) -> list[PostTaskItem]:
        with self.db.reading() as conn:
            tasks = reply_repo.list_post_tasks(conn, state, tenants, limit)
            items = []
            for task in tasks:
                reply = reply_repo.get_reply(conn, task.reply_id)
                case = case_repo.committed(conn, task.case_id)
                assert reply is not None and case is not None, "a post task points to a missing reply or case"
                items.append(PostTaskItem(**dict(post_task_view(task)), reference=case.reference, kind=reply.kind,
                                          title=reply.title, documents=documents_view(reply)))
        return items

    def close_post_task(self, task_id: str, state: str, note: str | None, actor: str,
                        tenants: list[str] | None) -> PostTaskView:
        now = self.clock()
        with self.db.transaction() as uow:
            task = reply_repo.get_post_task(uow.conn, task_id)
            if task is None or (tenants is not None and task.tenant_ars not in tenants):
                raise NotFound("no such post task")
            if task.state != "open":
                raise InvalidRequest(f"the task is {task.state} already", state=task.state)
            reply_repo.update_post_task(uow.conn, task_id, "open", state=state, note=note, closed_by=actor,
                                        updated_at=now)
            reply = reply_repo.get_reply(uow.conn, task.reply_id)
            assert reply is not None, "a post task points to a missing reply"
            closed = reply_repo.get_post_task(uow.conn, task_id)
            assert closed is not None
            self.ledger.post_task_event(uow.conn, reply, closed, now, actor)
        return post_task_view(closed)

    # -- admin -------------------------------------------------------------------------------
    def deliveries_in_state(self, state: str, tenants: list[str] | None, limit: int) -> list[DeliveryAdminView]:
        with self.db.reading() as conn:
            return [delivery_admin_view(d) for d in reply_repo.deliveries_in_state(conn, state, tenants, limit)]

    def replay(self, delivery_id: str, actor: str, tenants: list[str] | None) -> bool:
        """A dead delivery (its channel stayed unreachable) is queued again."""
        now = self.clock()
        with self.db.transaction() as uow:
            delivery = reply_repo.get_delivery(uow.conn, delivery_id)
            if delivery is None or delivery.state != "dead" or (
                    tenants is not None and delivery.tenant_ars not in tenants):
                return False
            if delivery.outbox_id is None or not outbox_repo.revive(uow.conn, delivery.outbox_id, now):
                return False
            self.ledger.requeue(uow.conn, delivery, now, actor)
        return True

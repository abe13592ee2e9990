"""How replies, deliveries and "send by post" tasks are shown (API answers, the case view)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from gateway.case.model import Case
from gateway.store.reply_repo import DeliveryRow, PostTaskRow, ReplyRow


class DocumentView(BaseModel):
    id: str
    filename: str
    media_type: str
    size: int
    sha512: str


class HistoryEntry(BaseModel):
    state: str
    at: dt.datetime
    detail: str | None = None
    note: str | None = None
    problem: str | None = Field(default=None, description="the problem type of a failure")


class DeliveryView(BaseModel):
    id: str
    channel: str
    recipient: str = Field(description="where the channel delivers (as the channel names it)")
    state: str = Field(description="queued, sent, accepted, delivered, read, failed or dead")
    remote_id: str | None
    detail: str | None
    problem: dict[str, Any] | None = Field(description="RFC 9457 problem of the last failure")
    attempts: int
    history: list[HistoryEntry]
    created_at: dt.datetime
    updated_at: dt.datetime


class DeliveryAdminView(BaseModel):
    """A delivery as an admin sees it: no recipient, no content."""

    id: str
    reply_id: str
    case_id: str
    channel: str
    state: str
    problem: dict[str, Any] | None
    attempts: int
    updated_at: dt.datetime


class PostTaskView(BaseModel):
    id: str
    reply_id: str
    case_id: str
    state: str = Field(description="open, done (printed and posted) or cancelled")
    reason: dict[str, Any] = Field(description="why no channel carries the reply")
    note: str | None
    closed_by: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class ReplyView(BaseModel):
    id: str
    case_id: str
    kind: str
    title: str
    text: str
    status: str | None
    documents: list[DocumentView]
    channel: str | None = Field(description="the channel the client asked for, if any")
    plan: list[str] = Field(description="the channels in the order they may carry this reply")
    created_by: str
    created_at: dt.datetime
    deliveries: list[DeliveryView]
    post_task: PostTaskView | None


class PostTaskItem(PostTaskView):
    """A task in the list of what is to be sent by post: enough to print it."""

    reference: str
    kind: str
    title: str
    documents: list[DocumentView]


class CaseView(Case):
    """A case with the replies sent to its applicant and their deliveries."""

    replies: list[ReplyView] = Field(default_factory=list)


def delivery_view(row: DeliveryRow) -> DeliveryView:
    return DeliveryView(id=row.id, channel=row.channel, recipient=row.recipient, state=row.state,
                        remote_id=row.remote_id, detail=row.detail, problem=row.problem, attempts=row.attempts,
                        history=[HistoryEntry.model_validate(h) for h in row.history], created_at=row.created_at,
                        updated_at=row.updated_at)


def delivery_admin_view(row: DeliveryRow) -> DeliveryAdminView:
    return DeliveryAdminView(id=row.id, reply_id=row.reply_id, case_id=row.case_id, channel=row.channel,
                             state=row.state, problem=row.problem, attempts=row.attempts, updated_at=row.updated_at)


def post_task_view(row: PostTaskRow) -> PostTaskView:
    return PostTaskView(id=row.id, reply_id=row.reply_id, case_id=row.case_id, state=row.state, reason=row.reason,
                        note=row.note, closed_by=row.closed_by, created_at=row.created_at, updated_at=row.updated_at)


def documents_view(reply: ReplyRow) -> list[DocumentView]:
    return [DocumentView(id=d["id"], filename=d["filename"], media_type=d["media_type"], size=d["size"],
                         sha512=d["sha512"]) for d in reply.documents]


def reply_view(reply: ReplyRow, deliveries: list[DeliveryRow], task: PostTaskRow | None) -> ReplyView:
    return ReplyView(id=reply.id, case_id=reply.case_id, kind=reply.kind, title=reply.title, text=reply.text,
                     status=reply.status, documents=documents_view(reply), channel=reply.explicit_channel,
                     plan=reply.plan, created_by=reply.created_by, created_at=reply.created_at,
                     deliveries=[delivery_view(d) for d in deliveries if d.reply_id == reply.id],
                     post_task=post_task_view(task) if task is not None else None)

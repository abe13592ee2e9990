"""A delivery as its reply channel sees it (the port's :class:`OutgoingReply`)."""

from __future__ import annotations

from typing import cast

from gateway.case.model import Case
from gateway.ports import OutgoingReply, ReplyDocument, ReplyKind
from gateway.store.reply_repo import DeliveryRow, ReplyRow


def outgoing(reply: ReplyRow, delivery: DeliveryRow, case: Case) -> OutgoingReply:
    return OutgoingReply(
        reply_id=reply.id, delivery_id=delivery.id, kind=cast(ReplyKind, reply.kind), title=reply.title,
        text=reply.text, case=case, recipient=delivery.recipient, status=reply.status,
        documents=tuple(ReplyDocument(id=d["id"], filename=d["filename"], media_type=d["media_type"], size=d["size"],
                                      sha512=d["sha512"], storage_key=d["storage_key"]) for d in reply.documents))

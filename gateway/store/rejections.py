"""Refused requests of a synchronous channel (the portal's 4xx answers): nothing of the request
is kept, only a record without personal data — channel, client, municipality, problem type and
status, time — in the audit log. Counting these records is the refusal counter
(``GET /v1/admin/rejections``). The municipality is the one the request named, when it could
be read (a label for the admins, never used to decide anything); a refusal before that has
none and is shown to the admins of the municipalities its client is configured for."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, desc, func, or_, select

from gateway.events import audit as audit_log
from gateway.store.db import Database
from gateway.store.tables import audit

ACTION = "request.refused"


def record(db: Database, *, channel: str, client_id: str, tenant_ars: str | None, problem_type: str, status: int,
           at: dt.datetime) -> None:
    with db.transaction() as uow:
        audit_log.record(uow.conn, at=at, actor=f"client:{client_id}", action=ACTION, tenant_ars=tenant_ars,
                         details={"channel": channel, "type": problem_type, "status": status})


def summary(db: Database, tenants: list[str] | None, limit: int, clients: list[str] | None = None
            ) -> dict[str, Any]:
    """Counts per problem type and the latest records of ``tenants`` (None: all), and those
    without a municipality (refused before one was known) of ``clients``."""
    where = [audit.c.action == ACTION]
    if tenants is not None:
        actors = [f"client:{c}" for c in clients or ()]
        where.append(or_(audit.c.tenant_ars.in_(tenants),
                         and_(audit.c.tenant_ars.is_(None), audit.c.actor.in_(actors))))
    type_of = audit.c.details["type"].as_string()
    with db.reading() as conn:
        counts = conn.execute(select(type_of, func.count()).where(*where).group_by(type_of)).all()
        latest = conn.execute(select(audit).where(*where).order_by(desc(audit.c.seq)).limit(limit)).mappings().all()
    return {"total": sum(n for _, n in counts), "by_type": {t: n for t, n in counts},
            "latest": [{"at": r["at"].isoformat(), "client": r["actor"].removeprefix("client:"),
                        "tenant": r["tenant_ars"], **r["details"]} for r in latest]}

"""Read-only look-ups the CLI and the tests need beside the API: where a source's message stands."""

from __future__ import annotations

from gateway.case.model import Case
from gateway.store import case_repo, inbox_repo
from gateway.store.db import Database
from gateway.store.inbox_repo import InboxRow


class Queries:
    def __init__(self, db: Database) -> None:
        self.db = db

    def inbox_entry(self, channel: str, source_id: str) -> InboxRow | None:
        with self.db.reading() as conn:
            return inbox_repo.find(conn, channel=channel, source_id=source_id)

    def case_by_source(self, channel: str, source_id: str) -> Case | None:
        entry = self.inbox_entry(channel, source_id)
        if entry is None or entry.case_id is None:
            return None
        with self.db.reading() as conn:
            return case_repo.get_case(conn, entry.case_id)

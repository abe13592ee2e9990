"""Forward a case to another authority through XTA: createMessageId, then sendMessage (MTOM).

Idempotent per (case, target): the MessageID is recorded *before* sendMessage, so after a
crash the same id is sent again, and the server's answer "MessageID already used" (9024)
proves the earlier attempt arrived. The record lives in a small SQLite file of the adapter.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import sqlite3
import threading
from pathlib import Path

from adapters.xta.client import Content, XtaClient
from adapters.xta.errors import XtaMessageIdUsed
from adapters.xta.metadata import KeyCode, MessageMetaData, Party
from adapters.xta.options import SenderOptions
from gateway.case.model import Case
from gateway.ports import BlobStore, Forwarding

_STATUS = {0: "sent", 1: "delivered", 2: "failed"}


class SentLog:
    """(case id, target) -> MessageID and whether sendMessage has succeeded."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:  # opened on first use: a gateway that never forwards creates no file
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
            self._db.execute("CREATE TABLE IF NOT EXISTS sent (case_id TEXT, target TEXT, message_id TEXT NOT NULL,"
                             " done INTEGER NOT NULL, PRIMARY KEY (case_id, target))")
        return self._db

    def get(self, case_id: str, target: str) -> tuple[str, bool] | None:
        with self._lock:
            row = self._conn().execute("SELECT message_id, done FROM sent WHERE case_id = ? AND target = ?",
                                       (case_id, target)).fetchone()
        return (str(row[0]), bool(row[1])) if row else None

    def record(self, case_id: str, target: str, message_id: str, done: bool) -> None:
        with self._lock:
            self._conn().execute("INSERT INTO sent VALUES (?, ?, ?, ?) ON CONFLICT (case_id, target) "
                                 "DO UPDATE SET message_id = excluded.message_id, done = excluded.done",
                                 (case_id, target, message_id, int(done)))


class XtaSender:
    name = "xta"

    def __init__(self, options: SenderOptions, author: Party, client: XtaClient, log_path: Path) -> None:
        self.options = options
        self.author = author
        self.client = client
        self.sent = SentLog(log_path)

    def send(self, case: Case, target: str, blobs: BlobStore) -> Forwarding:
        case_id = str(case.id)
        known = self.sent.get(case_id, target)
        if known and known[1]:
            return Forwarding("xta", target, known[0], "sent")
        message_id = known[0] if known else self.client.create_message_id()
        self.sent.record(case_id, target, message_id, done=False)
        message = Content(case.model_dump_json().encode(), "application/json", f"{case.reference}.json",
                          "Vorgang im Format case-v1", "UTF-8")
        attachments = [Content(blobs.get(a.storage_key), a.media_type, a.filename, a.description)
                       for a in case.attachments]
        metadata = MessageMetaData(
            message_id=message_id, author=self.author, reader=Party(target), service=self.options.service,
            business_scenario=KeyCode(self.options.business_scenario),
            message_type=KeyCode(self.options.message_type, self.options.message_type_list, "1.0"),
            payload_schema=self.options.payload_schema,
            msg_size=len(message.data) + sum(len(a.data) for a in attachments),
            subject=case.reference, origin=dt.datetime.now(dt.UTC))
        with contextlib.suppress(XtaMessageIdUsed):  # our earlier attempt with this id arrived
            self.client.send_message(metadata, message, attachments)
        self.sent.record(case_id, target, message_id, done=True)
        return Forwarding("xta", target, message_id, "sent")

    def follow(self, forwarding: Forwarding) -> Forwarding:
        report = self.client.get_transport_report(forwarding.remote_id)
        return dataclasses.replace(forwarding, status=_STATUS.get(report.status, "unknown"))

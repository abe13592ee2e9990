"""The sandbox mailbox: every mail the SMTP listener accepted, in memory and optionally on disk,
plus the faults a test asked for. Shared between the SMTP thread and the web app (one lock)."""

from __future__ import annotations

import os
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class StoredMail:
    id: int
    received_at: datetime
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    tls: bool
    authenticated_as: str | None

    def parsed(self) -> EmailMessage:
        return BytesParser(policy=default).parsebytes(self.raw)

    def summary(self) -> dict[str, Any]:
        msg = self.parsed()
        parts = [{"content_type": p.get_content_type(), "filename": p.get_filename()}
                 for p in msg.walk() if not p.is_multipart()]
        return {"id": self.id, "received_at": self.received_at.isoformat(), "mail_from": self.mail_from,
                "rcpt_tos": list(self.rcpt_tos), "subject": str(msg.get("Subject", "")),
                "message_id": str(msg.get("Message-ID", "")), "content_type": msg.get_content_type(),
                "encrypted": msg.get_content_type() == "multipart/encrypted", "tls": self.tls,
                "authenticated_as": self.authenticated_as, "size": len(self.raw), "parts": parts}


@dataclass
class Fault:
    """Answer ``code text`` at ``stage`` (MAIL, RCPT or DATA) ``count`` times, for one recipient or all."""

    stage: str
    code: int
    text: str
    count: int = 1
    recipient: str | None = None


@dataclass
class MailStore:
    folder: Path | None = None
    max_messages: int = 10_000
    _mails: deque[StoredMail] = field(default_factory=deque)
    _faults: list[Fault] = field(default_factory=list)
    _next_id: int = 1
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, mail_from: str, rcpt_tos: list[str], raw: bytes, tls: bool, authenticated_as: str | None
            ) -> StoredMail:
        with self._lock:
            mail = StoredMail(self._next_id, datetime.now(UTC), mail_from, tuple(rcpt_tos), raw, tls,
                              authenticated_as)
            self._next_id += 1
            if self.folder is not None:
                self._write(mail)
            self._mails.append(mail)
            while len(self._mails) > self.max_messages:
                self._mails.popleft()
            return mail

    def _write(self, mail: StoredMail) -> None:
        # The sandbox answers 250 only after the mail is on disk, as a real relay must.
        assert self.folder is not None
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{mail.id:06d}.eml"
        with open(path, "wb") as fh:
            fh.write(mail.raw)
            fh.flush()
            os.fsync(fh.fileno())

    def mails(self, recipient: str | None = None) -> list[StoredMail]:
        with self._lock:
            found = list(self._mails)
        if recipient is not None:
            wanted = recipient.casefold()
            found = [m for m in found if wanted in (r.casefold() for r in m.rcpt_tos)]
        return found

    def get(self, mail_id: int) -> StoredMail | None:
        with self._lock:
            return next((m for m in self._mails if m.id == mail_id), None)

    def clear(self) -> None:
        with self._lock:
            self._mails.clear()

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def take_fault(self, stage: str, recipients: list[str]) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.stage == stage and (fault.recipient is None or fault.recipient.casefold()
                                             in (r.casefold() for r in recipients)):
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

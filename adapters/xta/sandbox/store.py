"""The sandbox's state: accounts, one mailbox per reader, open status lists, injected faults.

Everything is in memory behind one lock; the sandbox is a test and demo stand-in, not a
server for real traffic.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from adapters.xta.metadata import MessageMetaData
from adapters.xta.ns import MESSAGE_ID_PREFIX


class AccountState(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"  # 9010
    LOCKED = "locked"  # 9011
    CERT_MISMATCH = "cert-mismatch"  # 9014


class SandboxFault(Exception):
    """Answered as a SOAP fault: ``code`` an XTA error number, or ``fault`` without a code."""

    def __init__(self, reason: str, *, code: str | None = None, fault: str | None = None) -> None:
        super().__init__(reason)
        self.reason, self.code, self.fault = reason, code, fault


@dataclass(frozen=True)
class Account:
    party: str
    state: AccountState = AccountState.ACTIVE
    services: frozenset[str] | None = None  # None: every service is booked


@dataclass(frozen=True)
class StoredContent:
    media_type: str
    data: bytes | Path  # a file: a large message put into the mailbox by a benchmark, served as a stream
    filename: str | None = None
    description: str | None = None
    encoding: str | None = None

    @property
    def size(self) -> int:
        return self.data.stat().st_size if isinstance(self.data, Path) else len(self.data)

    def read(self) -> bytes:
        return self.data.read_bytes() if isinstance(self.data, Path) else self.data


@dataclass
class StoredMessage:
    metadata: MessageMetaData
    message: StoredContent
    attachments: list[StoredContent]
    received_at: dt.datetime
    fetched: bool = False
    closed: bool = False
    fetched_at: dt.datetime | None = None


@dataclass(frozen=True)
class Page:
    request_id: str
    ids: list[str]
    pending: int
    short: bool  # the short list form (MsgAttributes) instead of MessageMetaData


@dataclass
class SandboxState:
    accounts: dict[str, Account] | None = None  # None: any author is accepted
    server_identity: str = "xta:sandbox"
    id_prefix: str = "xtasandbox"
    lock: threading.RLock = field(default_factory=threading.RLock)
    messages: dict[str, StoredMessage] = field(default_factory=dict)
    issued_ids: set[str] = field(default_factory=set)
    lists: dict[str, tuple[list[str], int, bool]] = field(default_factory=dict)  # rest, page size, short form
    injected: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)  # wsa:Action values as the clients sent them

    def check_account(self, party: str, service: str | None = None) -> None:
        if self.accounts is None:
            return
        account = self.accounts.get(party)
        if account is None:
            raise SandboxFault("no account for this identity", code="9012")
        codes = {AccountState.EXPIRED: "9010", AccountState.LOCKED: "9011", AccountState.CERT_MISMATCH: "9014"}
        if account.state in codes:
            raise SandboxFault(f"account {account.state.value}", code=codes[account.state])
        if service is not None and account.services is not None and service not in account.services:
            raise SandboxFault("service not booked", code="9013")

    def fail_next(self, operation: str, code: str | None = None, *, fault: str | None = None,
                  times: int = 1) -> None:
        """Test hook: the next ``times`` calls of ``operation`` answer with this fault."""
        with self.lock:
            self.injected.extend([(operation, code, fault)] * times)

    def take_injected(self, operation: str) -> None:
        with self.lock:
            for i, (op, code, fault) in enumerate(self.injected):
                if op == operation:
                    del self.injected[i]
                    raise SandboxFault("injected fault", code=code, fault=fault)

    def new_message_id(self) -> str:
        message_id = f"{MESSAGE_ID_PREFIX}{self.id_prefix}:{uuid.uuid4()}"
        with self.lock:
            self.issued_ids.add(message_id)
        return message_id

    def store(self, message: StoredMessage) -> None:
        message_id = message.metadata.message_id
        if not message_id.startswith(MESSAGE_ID_PREFIX):
            raise SandboxFault("MessageID is not an XTA message id", fault="ParameterIsNotValidException")
        with self.lock:
            if message_id in self.messages:
                raise SandboxFault("MessageID already used", code="9024")
            self.messages[message_id] = message

    def open_messages(self, reader: str) -> list[str]:
        with self.lock:
            return [mid for mid, m in self.messages.items() if m.metadata.reader.value == reader and not m.closed]

    def mailbox_message(self, reader: str, message_id: str) -> StoredMessage:
        with self.lock:
            message = self.messages.get(message_id)
            if message is None or message.metadata.reader.value != reader or message.closed:
                raise SandboxFault("message not in this mailbox", fault="InvalidMessageIDException")
            return message

    def page(self, ids: list[str], size: int, short: bool = False) -> Page:
        """First ``size`` ids now, the rest kept for getNextStatusList under a new request id."""
        request_id = f"urn:uuid:{uuid.uuid4()}"
        with self.lock:
            if len(ids) > size:
                self.lists[request_id] = (ids[size:], size, short)
        return Page(request_id, ids[:size], max(0, len(ids) - size), short)

    def next_page(self, request_id: str) -> Page | None:
        """The next page of a status list, in the page size and form the list was opened with;
        None for an unknown or finished MsgBoxRequestID."""
        with self.lock:
            found = self.lists.pop(request_id, None)
            if found is None:
                return None
            rest, size, short = found
            open_now = [mid for mid in rest if not self.messages[mid].closed]
        return self.page(open_now, size, short)

    def drop_list(self, request_id: str) -> None:
        """close with a MsgBoxRequestID and no message: the client is done with that list."""
        with self.lock:
            self.lists.pop(request_id, None)

"""The sandbox's memory: accounts and tokens, accepted letters and how their status advances,
and the faults a test asked for. One lock; the web app calls it from worker threads."""

from __future__ import annotations

import hmac
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.hybridmail.sandbox.checks import CheckedLetter, Refused
from adapters.hybridmail.sandbox.config import Account, SandboxConfig


@dataclass
class SandboxLetter:
    letter_id: int
    ekp: str
    fields: dict[str, Any]
    sha256: str
    pages: int
    size: int
    created_at: datetime
    created_clock: float
    pdf: bytes | None  # None when kept in letter_dir
    failed: bool = False

    @property
    def test_flag(self) -> bool:
        return bool(self.fields.get("testFlag"))


@dataclass
class Fault:
    """The next ``count`` requests whose path starts with ``path`` (and method matches) wait
    ``delay_seconds`` and then, if ``status`` is set, are answered with that HTTP status."""

    path: str
    method: str | None = None
    status: int | None = None
    delay_seconds: float = 0.0
    count: int = 1


@dataclass
class EPostSandbox:
    config: SandboxConfig
    clock: Callable[[], float] = time.monotonic
    letters: dict[int, SandboxLetter] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    _tokens: dict[str, tuple[Account, float]] = field(default_factory=dict)
    _failed_logins: dict[str, list[float]] = field(default_factory=dict)
    _last_poll: dict[str, float] = field(default_factory=dict)
    _next_id: int = 700_000_001
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- login ---------------------------------------------------------------------------------------------------

    def login(self, body: Any) -> str:
        if not isinstance(body, dict):
            raise Refused(400, "E900", "the login request must be a JSON object")
        ekp = str(body.get("ekp", ""))[:32]
        now = self.clock()
        with self._lock:
            recent = [t for t in self._failed_logins.get(ekp, []) if now - t < self.config.lockout_seconds]
            self._failed_logins[ekp] = recent
            if len(recent) >= self.config.max_failed_logins:
                raise Refused(429, "E429", "too many failed logins; try again later",
                              {"Retry-After": str(int(self.config.lockout_seconds))})
            account = next((a for a in self.config.accounts if self._matches(a, body)), None)
            if account is None:
                recent.append(now)
                raise Refused(401, "E401", "login failed")
            minutes = body.get("tokenDuration", 1440)
            minutes = minutes if isinstance(minutes, int) and 1 <= minutes <= 1440 else 1440
            token = secrets.token_urlsafe(32)
            self._tokens[token] = (account, now + minutes * 60)
            return token

    @staticmethod
    def _matches(account: Account, body: dict[str, Any]) -> bool:
        checks = [(account.vendor_id, body.get("vendorID")), (account.ekp, body.get("ekp")),
                  (account.secret, body.get("secret")), (account.password, body.get("password"))]
        ok = True
        for expected, given in checks:  # every field compared, constant time each
            ok &= isinstance(given, str) and hmac.compare_digest(expected.encode(), given.encode())
        return ok

    def account(self, authorization: str | None) -> Account:
        scheme, _, token = (authorization or "").partition(" ")
        with self._lock:
            found = self._tokens.get(token) if scheme.lower() == "bearer" else None
            if found is None or found[1] <= self.clock():
                raise Refused(401, "E402", "missing, unknown or expired token")
            return found[0]

    def expire_tokens(self) -> None:
        """Test hook: every token expires now (the client must log in again)."""
        with self._lock:
            self._tokens.clear()

    def polled(self, authorization: str | None) -> None:
        """Rate limit of status requests per token (E-POST watches polling frequency [S])."""
        interval = self.config.min_poll_interval_seconds
        if interval <= 0:
            return
        now = self.clock()
        with self._lock:
            last = self._last_poll.get(authorization or "")
            if last is not None and now - last < interval:
                raise Refused(429, "E429", "status requested too often", {"Retry-After": str(max(1, round(interval)))})
            self._last_poll[authorization or ""] = now

    # -- letters -------------------------------------------------------------------------------------------------

    def accept(self, account: Account, checked: list[CheckedLetter]) -> list[dict[str, Any]]:
        """Stores a whole request, or nothing (a bulk with one bad letter is refused as a whole)."""
        now = self.clock()
        with self._lock:
            mine = [x for x in self.letters.values() if x.ekp == account.ekp]
            names = {x.fields["fileName"] for x in mine}
            seen: set[str] = set()
            for letter in checked:
                name = letter.fields["fileName"]
                if letter.fields.get("activateDuplicateFailsafe") and any(
                        x.sha256 == letter.sha256 and now - x.created_clock < self.config.duplicate_window_seconds
                        for x in mine):
                    raise Refused(400, "E324", f"{name}: the same PDF was uploaded within the last 60 minutes")
                if name in names or name in seen:
                    raise Refused(400, "E903", f"fileName {name} was used before")
                seen.add(name)
            results = []
            for letter in checked:
                stored = SandboxLetter(self._next_id, account.ekp, letter.fields, letter.sha256, letter.pages,
                                       len(letter.pdf), datetime.now(UTC), now, letter.pdf)
                self._next_id += 1
                if self.config.letter_dir is not None:
                    self._write(stored, letter.pdf)
                self.letters[stored.letter_id] = stored
                results.append({"fileName": letter.fields["fileName"], "letterID": stored.letter_id})
            while len(self.letters) > self.config.max_letters:
                self.letters.pop(next(iter(self.letters)))
            return results

    def _write(self, letter: SandboxLetter, pdf: bytes) -> None:
        assert self.config.letter_dir is not None
        self.config.letter_dir.mkdir(parents=True, exist_ok=True)
        with open(self.config.letter_dir / f"{letter.letter_id}.pdf", "wb") as fh:
            fh.write(pdf)
            fh.flush()
            os.fsync(fh.fileno())
        letter.pdf = None

    def pdf(self, letter: SandboxLetter) -> bytes:
        if letter.pdf is not None:
            return letter.pdf
        assert self.config.letter_dir is not None
        return (self.config.letter_dir / f"{letter.letter_id}.pdf").read_bytes()

    def mine(self, account: Account) -> list[SandboxLetter]:
        with self._lock:
            return [x for x in self.letters.values() if x.ekp == account.ekp]

    def fail(self, letter_id: int) -> bool:
        with self._lock:
            letter = self.letters.get(letter_id)
            if letter is None:
                return False
            letter.failed = True
            return True

    def status_id(self, letter: SandboxLetter) -> int:
        step = self.config.step_seconds
        steps = int((self.clock() - letter.created_clock) / step) if step > 0 else 3
        if letter.failed:
            return 99
        return min(1 + steps, 2 if letter.test_flag else 4)

    def status(self, letter: SandboxLetter) -> dict[str, Any]:
        status_id = self.status_id(letter)
        created = letter.created_at
        step = timedelta(seconds=self.config.step_seconds)

        def at(reached: bool, steps: int) -> str | None:
            return (created + step * steps).isoformat() if reached else None

        errors = [{"level": "Error", "code": "E950", "description": "the print centre could not process the letter",
                   "date": datetime.now(UTC).isoformat()}] if status_id == 99 else []
        return {"letterID": letter.letter_id, "fileName": letter.fields.get("fileName"), "statusID": status_id,
                "statusDetails": {1: "accepted", 2: "processed", 3: "at the print centre", 4: "dispatched",
                                  99: "error"}[status_id],
                "createdDate": created.isoformat(), "processedDate": at(status_id in (2, 3, 4), 1),
                "printUploadDate": at(status_id in (3, 4), 2), "printFeedbackDate": at(status_id == 4, 3),
                "noOfPages": letter.pages, "testFlag": letter.test_flag, "batchID": letter.fields.get("batchID"),
                **{f"custom{i}": letter.fields.get(f"custom{i}") for i in range(1, 6)},
                "registeredLetter": letter.fields.get("registeredLetter"), "errorList": errors}

    # -- faults --------------------------------------------------------------------------------------------------

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if path.startswith(fault.path) and fault.method in (None, method):
                    fault.count -= 1
                    if fault.count <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

"""Records what a gateway makes durable and when, to check the order every channel must keep:
each blob a case refers to is fsync'd, renamed to its name and its folder fsync'd, before the
database commit that refers to it; that commit (SQLite ``synchronous=FULL``) comes before the
acknowledgement upstream."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from gateway.bootstrap import Gateway


@dataclass
class DurabilityTrace:
    blob_root: Path
    steps: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def install(cls, gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> DurabilityTrace:
        trace = cls(gateway.settings.effective_blob_dir)
        real_fsync, real_replace = os.fsync, os.replace

        def fsync(fd: int) -> None:
            real_fsync(fd)
            trace.steps.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))

        def replace(src: Any, dst: Any) -> None:
            real_replace(src, dst)
            trace.steps.append(("rename", f"{src} -> {dst}"))

        def writes(conn: Any, clause: Any, multiparams: Any, params: Any, execution_options: Any) -> None:
            # before the column types run: a sealed column (gateway/store/crypto) shows its plain value here
            compiled = clause.compile(dialect=conn.dialect) if hasattr(clause, "compile") else None
            statement = str(compiled if compiled is not None else clause)
            if statement.lstrip().upper().startswith(("INSERT", "UPDATE")):
                bound = compiled.params if compiled is not None else {}
                trace.steps.append(("write", f"{statement} {multiparams} {params} {bound}"))

        dialect = gateway.db.engine.dialect
        real_commit = dialect.do_commit

        def do_commit(dbapi_connection: Any) -> None:
            real_commit(dbapi_connection)
            trace.steps.append(("commit", ""))

        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "replace", replace)
        monkeypatch.setattr(dialect, "do_commit", do_commit)
        event.listen(gateway.db.engine, "before_execute", writes)
        with gateway.db.reading() as conn:
            assert conn.execute(text("PRAGMA synchronous")).scalar_one() == 2, "SQLite commits must be FULL"
        return trace

    def acknowledged(self, what: str) -> None:
        self.steps.append(("ack", what))

    def _index(self, kind: str, matches: Any, after: int = -1) -> int:
        for i, (step, detail) in enumerate(self.steps):
            if i > after and step == kind and matches(detail):
                return i
        raise AssertionError(f"no {kind} step after #{after} matching: {self.steps[after + 1:][:40]}")

    def blob_then_commit(self, key: str) -> int:
        """Checks blob ``key`` was written durably before the commit of the first statement that
        refers to it; returns that commit's position."""
        digest = key.removeprefix("sha512/")
        final = self.blob_root / digest[:2] / digest
        renamed = self._index("rename", lambda d: d.endswith(f" -> {final}"))
        temporary = self.steps[renamed][1].split(" -> ")[0]
        synced = self._index("fsync", lambda d: d == temporary)
        assert synced < renamed, f"{key}: renamed before its content was fsync'd"
        folder = self._index("fsync", lambda d: d == str(final.parent), after=renamed)
        referred = self._index("write", lambda d: digest in d)
        assert folder < referred, f"{key}: referred to before its folder was fsync'd"
        return self._index("commit", lambda d: True, after=referred)

    def received(self, raw_key: str, part_keys: list[str]) -> None:
        """A pull channel's receive: every part blob the inbox row names (``part_keys``) and the
        raw original durable -> the commit of the inbox row that refers to them."""
        assert part_keys, "the inbox row names the parts fetched with the message"
        inserted = self._index("write", lambda d: d.startswith("INSERT INTO inbox") and raw_key[7:] in d)
        receive_commit = self._index("commit", lambda d: True, after=inserted)
        for key in [raw_key, *part_keys]:
            assert key[7:] in self.steps[inserted][1], f"{key}: not named by the inbox row"
            assert self.blob_then_commit(key) == receive_commit, f"{key}: not durable before the receive commit"

    def check(self, blob_keys: list[str], case_id: str, acknowledgement: str) -> None:
        """Every blob durable -> the case's commit -> the acknowledgement upstream."""
        assert blob_keys, "a case refers to at least its raw original"
        commits = [self.blob_then_commit(key) for key in blob_keys]
        case_commit = self._index("commit", lambda d: True, after=self._index(
            "write", lambda d: d.startswith("INSERT INTO cases") and case_id in d))
        ack = self._index("ack", lambda d: d == acknowledgement)
        assert max(commits) <= case_commit < ack, f"acknowledged before its case committed: {self.steps}"

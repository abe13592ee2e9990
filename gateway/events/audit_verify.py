"""Checking one audit chain: walk its sealed entries in order and name the first that does not
fit; entries not sealed yet are reported as pending, not as a problem.

What each finding means:
- ``removed``: a position is missing (an entry was deleted), or the chain ends before its head
  row or an anchored head (entries cut off at the end);
- ``inserted``: a position repeats, or an entry sits ahead of one written before it (in the order
  ``(xid, seq)`` the sealer links them in), or an unsealed entry was written before the last
  sealed one (the sealer never leaves such an entry behind: it was slipped in afterwards);
- ``broken-link``: an entry's ``prev_hash`` is not its predecessor's hash (the predecessor was
  replaced, with its hash recomputed);
- ``changed``: an entry's fields no longer give its stored hash;
- ``head`` / ``anchor``: the head row or the anchor names a hash the chain does not have there.

Pending (unsealed) entries are written and committed but not linked yet: the sealer links them
every worker round, once every older transaction has ended (gateway.events.audit_sealer).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from gateway.events.audit_chain import GENESIS, Entry, recompute


@dataclass(frozen=True)
class Head:
    """A chain's newest entry as a head row or an external anchor records it."""

    chain: str
    position: int
    hash: str


@dataclass(frozen=True)
class Problem:
    kind: str
    message: str
    seq: int | None = None
    position: int | None = None


@dataclass(frozen=True)
class Pending:
    """A chain's unsealed entries: how many, and the next to be sealed (the lowest ``(xid, seq)``)."""

    count: int
    seq: int
    xid: int
    at: dt.datetime


@dataclass(frozen=True)
class ChainResult:
    chain: str
    entries: int  # sealed entries checked
    last: Head | None
    problem: Problem | None
    pending: Pending | None = None


def _entry_problem(entry: Entry, before: Entry | None) -> Problem | None:
    expected = before.position + 1 if before else 1
    where = f"entry seq {entry.seq} at position {entry.position}"
    if entry.position > expected:
        missing = f"{expected}" if entry.position == expected + 1 else f"{expected} to {entry.position - 1}"
        return Problem("removed", f"{where}: position(s) {missing} missing — entries were removed",
                       entry.seq, entry.position)
    if entry.position < expected:
        return Problem("inserted", f"{where}: position repeats — an entry was inserted", entry.seq, entry.position)
    if before is not None and (entry.xid, entry.seq) <= (before.xid, before.seq):
        return Problem("inserted", f"{where}: written before the entry ahead of it (seq {before.seq}) — "
                       "one of the two was inserted", before.seq, before.position)
    if entry.prev_hash != (before.hash if before else GENESIS):
        return Problem("broken-link", f"{where}: prev_hash does not match the hash of the entry before it — "
                       "the entry before it was changed or replaced", entry.seq, entry.position)
    if recompute(entry) != entry.hash:
        return Problem("changed", f"{where}: its fields do not give its stored hash — the entry was changed",
                       entry.seq, entry.position)
    return None


def _end_problem(last: Entry | None, head: Head | None, anchored_hash: str | None,
                 anchor: Head | None) -> Problem | None:
    end = last.position if last else 0
    if head is None and last is not None:
        return Problem("head", f"the chain has entries up to position {end} but no head row — it was deleted",
                       last.seq, end)
    if head is not None and head.position > end:
        return Problem("removed", f"the chain ends at position {end} but its head row is at position "
                       f"{head.position} — entries were removed at the end", position=head.position)
    if head is not None and last is not None and head.position == end and head.hash != last.hash:
        return Problem("head", f"the head row's hash differs from entry seq {last.seq} at position {end}",
                       last.seq, end)
    if head is not None and last is None and head.position == 0 and head.hash != GENESIS:
        return Problem("head", "the head row of a chain with no sealed entry is not the genesis value", position=0)
    if anchor is not None and anchor.position > end:
        return Problem("removed", f"the anchored head at position {anchor.position} is gone (the chain ends at "
                       f"position {end}) — entries were removed at the end", position=anchor.position)
    if anchor is not None and anchored_hash != anchor.hash:
        return Problem("anchor", f"the entry at the anchored position {anchor.position} does not have the "
                       "anchored hash — the chain was rewritten", position=anchor.position)
    return None


def _pending_problem(last: Entry | None, pending: Pending | None) -> Problem | None:
    if pending is None or last is None or (pending.xid, pending.seq) > (last.xid, last.seq):
        return None
    return Problem("inserted", f"unsealed entry seq {pending.seq} was written before the sealed entry seq "
                   f"{last.seq} at position {last.position}, which the sealer never leaves behind — entry seq "
                   f"{pending.seq} was inserted afterwards", pending.seq)


def verify_chain(chain: str, entries: Iterable[Entry], head: Head | None,
                 anchor: Head | None = None, pending: Pending | None = None) -> ChainResult:
    """Sealed entries in chain order (position, then seq), the chain's head row, an anchor and
    the unsealed entries; stops at the first problem."""
    before: Entry | None = None
    count = 0
    anchored_hash: str | None = None
    for entry in entries:
        count += 1
        problem = _entry_problem(entry, before)
        if problem is not None:
            return ChainResult(chain, count, None, problem, pending)
        if anchor is not None and entry.position == anchor.position:
            anchored_hash = entry.hash
        before = entry
    last = Head(chain, before.position, before.hash) if before else None
    problem = _end_problem(before, head, anchored_hash, anchor) or _pending_problem(before, pending)
    return ChainResult(chain, count, last, problem, pending)

"""The audit chain on plain lists: the encoding is fixed, and verification names the first
changed, inserted or removed entry, a broken link, a cut-off end and a rewritten anchor; it walks
the sealed entries in (xid, seq) order and reports unsealed ones as pending, unless one lies
behind the sealed part."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from typing import Any

import pytest

from gateway.events.audit_chain import GENESIS, Entry, canonical_details, chain_of, encode, entry_hash, recompute
from gateway.events.audit_verify import Head, Pending, verify_chain

AT = dt.datetime(2026, 12, 6, 3, 30, 0, 123456, tzinfo=dt.UTC)
CHAIN = "150905350535"


def build(count: int, chain: str = CHAIN) -> list[Entry]:
    entries: list[Entry] = []
    prev = GENESIS
    for position in range(1, count + 1):
        fields: dict[str, Any] = {"at": AT + dt.timedelta(seconds=position), "actor": "worker",
                                  "action": "case.status", "tenant_ars": chain, "case_id": f"case-{position}",
                                  "inbox_id": None, "details": {"to": "in_progress", "n": position}}
        digest = entry_hash(chain=chain, position=position, prev_hash=prev, **fields)
        entries.append(Entry(seq=position * 10, chain=chain, position=position, prev_hash=prev, hash=digest,
                             **fields))
        prev = digest
    return entries


def head_of(entries: list[Entry]) -> Head:
    return Head(CHAIN, entries[-1].position, entries[-1].hash)


def rehash(entry: Entry, **changes: Any) -> Entry:
    """An entry changed by someone who also recomputed its hash."""
    changed = dataclasses.replace(entry, **changes)
    return dataclasses.replace(changed, hash=recompute(changed))


def test_the_encoding_is_version_1_canonical_json() -> None:
    encoded = encode(chain="-", position=1, prev_hash=GENESIS, at=AT, actor="console:anna", action="console.login",
                     tenant_ars=None, case_id=None, inbox_id=None, details={"b": "ä", "a": 1})
    assert encoded == (b'["rg-audit-v1","-",1,"' + GENESIS.encode()
                       + b'","2026-12-06T03:30:00.123456+00:00","console:anna","console.login",null,null,null,'
                       b'{"a":1,"b":"\\u00e4"}]')
    digest = entry_hash(chain="-", position=1, prev_hash=GENESIS, at=AT, actor="console:anna",
                        action="console.login", tenant_ars=None, case_id=None, inbox_id=None,
                        details={"a": 1, "b": "ä"})
    assert digest == hashlib.sha256(encoded).hexdigest()


def test_the_time_is_hashed_in_utc_whatever_zone_it_came_in() -> None:
    berlin = AT.astimezone(dt.timezone(dt.timedelta(hours=1)))
    common: dict[str, Any] = {"chain": CHAIN, "position": 1, "prev_hash": GENESIS, "actor": "a", "action": "b",
                              "tenant_ars": CHAIN, "case_id": None, "inbox_id": None, "details": {}}
    assert entry_hash(at=berlin, **common) == entry_hash(at=AT, **common)
    with pytest.raises(ValueError):
        entry_hash(at=AT.replace(tzinfo=None), **common)


def test_every_field_and_the_link_are_in_the_hash() -> None:
    entry = build(1)[0]
    for changes in ({"actor": "admin"}, {"action": "discarded"}, {"case_id": "other"}, {"inbox_id": "x"},
                    {"tenant_ars": None}, {"details": {"to": "closed", "n": 1}}, {"position": 2},
                    {"prev_hash": "1" * 64}, {"at": AT}, {"chain": "-"}):
        assert recompute(dataclasses.replace(entry, **changes)) != entry.hash, changes


def test_details_are_hashed_as_the_json_column_returns_them() -> None:
    assert canonical_details({"ids": ("a", "b"), 1: "x"}) == {"ids": ["a", "b"], "1": "x"}
    assert chain_of(None) == chain_of("") == "-"
    assert chain_of(CHAIN) == CHAIN


def test_an_intact_chain_verifies_and_reports_its_head() -> None:
    entries = build(5)
    result = verify_chain(CHAIN, entries, head_of(entries), anchor=Head(CHAIN, 3, entries[2].hash))
    assert result.problem is None and result.entries == 5 and result.last == head_of(entries)
    empty = verify_chain("-", [], None)
    assert empty.problem is None and empty.last is None


def test_a_changed_entry_is_named() -> None:
    entries = build(5)
    entries[2] = dataclasses.replace(entries[2], details={"to": "closed", "n": 3})
    problem = verify_chain(CHAIN, entries, head_of(entries)).problem
    assert problem is not None and problem.kind == "changed" and problem.seq == 30 and problem.position == 3


def test_a_changed_entry_with_a_recomputed_hash_breaks_the_next_link() -> None:
    entries = build(5)
    entries[2] = rehash(entries[2], actor="someone-else")
    problem = verify_chain(CHAIN, entries, head_of(entries)).problem
    assert problem is not None and problem.kind == "broken-link" and problem.position == 4
    assert "entry seq 40 at position 4" in problem.message


def test_a_removed_entry_leaves_a_gap() -> None:
    entries = build(5)
    del entries[1]
    problem = verify_chain(CHAIN, entries, head_of(entries)).problem
    assert problem is not None and problem.kind == "removed" and problem.position == 3
    assert "position(s) 2 missing" in problem.message


def test_removing_the_first_entries_is_seen() -> None:
    entries = build(4)[2:]
    problem = verify_chain(CHAIN, entries, head_of(entries)).problem
    assert problem is not None and problem.kind == "removed" and "1 to 2 missing" in problem.message


def test_a_removed_entry_with_renumbered_successors_breaks_a_link() -> None:
    entries = build(5)
    del entries[1]
    entries[1:] = [rehash(e, position=e.position - 1) for e in entries[1:]]
    problem = verify_chain(CHAIN, entries, Head(CHAIN, 4, entries[-1].hash)).problem
    assert problem is not None and problem.kind == "broken-link" and problem.position == 2


def test_an_inserted_entry_is_named() -> None:
    entries = build(4)
    extra = rehash(entries[1], seq=99, actor="intruder")
    repeated = [*entries[:2], extra, *entries[2:]]
    problem = verify_chain(CHAIN, repeated, head_of(entries)).problem
    assert problem is not None and problem.kind == "inserted" and problem.seq == 99
    # inserted with the positions after it shifted up: its seq is newer than its successors'
    shifted = rehash(entries[1], seq=99, position=3, prev_hash=entries[1].hash, actor="intruder")
    later = [rehash(e, position=e.position + 1) for e in entries[2:]]
    problem = verify_chain(CHAIN, [*entries[:2], shifted, *later], None).problem
    assert problem is not None and problem.kind == "inserted" and problem.seq == 99


def test_a_chain_cut_off_at_the_end_is_seen_through_its_head_row() -> None:
    entries = build(5)
    problem = verify_chain(CHAIN, entries[:3], head_of(entries)).problem
    assert problem is not None and problem.kind == "removed" and "head row is at position 5" in problem.message


def test_a_cut_off_chain_with_a_rewritten_head_row_is_caught_by_the_anchor() -> None:
    entries = build(5)
    anchor = head_of(entries)
    shortened = entries[:3]
    assert verify_chain(CHAIN, shortened, head_of(shortened)).problem is None  # the database alone can't tell
    problem = verify_chain(CHAIN, shortened, head_of(shortened), anchor).problem
    assert problem is not None and problem.kind == "removed" and "anchored head at position 5" in problem.message


def test_a_rewritten_chain_does_not_hold_the_anchored_hash() -> None:
    entries = build(4)
    anchor = Head(CHAIN, 2, entries[1].hash)
    rewritten: list[Entry] = []
    prev = GENESIS
    for entry in entries:  # every hash recomputed after changing entry 2
        changed = rehash(entry, prev_hash=prev, actor="forger" if entry.position == 2 else entry.actor)
        rewritten.append(changed)
        prev = changed.hash
    assert verify_chain(CHAIN, rewritten, head_of(rewritten)).problem is None
    problem = verify_chain(CHAIN, rewritten, head_of(rewritten), anchor).problem
    assert problem is not None and problem.kind == "anchor"


def test_a_head_row_that_disagrees_or_is_missing_is_reported() -> None:
    entries = build(3)
    wrong = verify_chain(CHAIN, entries, Head(CHAIN, 3, "f" * 64)).problem
    assert wrong is not None and wrong.kind == "head"
    missing = verify_chain(CHAIN, entries, None).problem
    assert missing is not None and missing.kind == "head"


def in_transactions(entries: list[Entry], xids: list[int], seqs: list[int]) -> list[Entry]:
    """The entries as the sealer links them: ``xids`` and ``seqs`` as they were written."""
    return [dataclasses.replace(e, xid=x, seq=q) for e, x, q in zip(entries, xids, seqs, strict=True)]


def test_the_sealing_order_is_xid_then_seq_not_seq_alone() -> None:
    # an older transaction wrote its entry after a younger one had written (larger seq, smaller xid)
    entries = in_transactions(build(3), xids=[700, 700, 705], seqs=[12, 13, 11])
    result = verify_chain(CHAIN, entries, head_of(entries))
    assert result.problem is None and result.entries == 3


def test_an_entry_sealed_ahead_of_an_older_transaction_is_named() -> None:
    entries = in_transactions(build(3), xids=[700, 705, 702], seqs=[11, 12, 13])
    problem = verify_chain(CHAIN, entries, head_of(entries)).problem
    assert problem is not None and problem.kind == "inserted" and problem.position == 2 and problem.seq == 12
    assert "entry seq 13 at position 3: written before the entry ahead of it (seq 12)" in problem.message


def test_unsealed_entries_are_pending_not_a_problem() -> None:
    entries = in_transactions(build(2), xids=[700, 701], seqs=[11, 12])
    later = Pending(count=4, seq=10, xid=702, at=AT)  # a smaller seq, but a younger transaction
    result = verify_chain(CHAIN, entries, head_of(entries), pending=later)
    assert result.problem is None and result.pending == later and result.entries == 2
    only_pending = verify_chain(CHAIN, [], None, pending=later)
    assert only_pending.problem is None and only_pending.last is None


def test_an_unsealed_entry_behind_the_sealed_part_is_named() -> None:
    entries = in_transactions(build(2), xids=[700, 701], seqs=[11, 12])
    for behind in (Pending(count=1, seq=99, xid=700, at=AT), Pending(count=2, seq=11, xid=701, at=AT)):
        problem = verify_chain(CHAIN, entries, head_of(entries), pending=behind).problem
        assert problem is not None and problem.kind == "inserted" and problem.seq == behind.seq
        assert f"unsealed entry seq {behind.seq} was written before the sealed entry seq 12" in problem.message


def test_a_head_row_at_the_genesis_fits_a_chain_with_no_sealed_entry() -> None:
    assert verify_chain(CHAIN, [], Head(CHAIN, 0, GENESIS)).problem is None
    problem = verify_chain(CHAIN, [], Head(CHAIN, 0, "f" * 64)).problem
    assert problem is not None and problem.kind == "head"

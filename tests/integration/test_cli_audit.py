"""`rathaus-gateway audit verify`, `audit head` and `audit seal` on a real SQLite data dir: the
worker seals what was written, an intact trail passes (entries not sealed yet are pending, not a
failure), a changed entry fails with exit 1 and its seq, and an anchor catches a cut-off end."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.bootstrap import Gateway
from gateway.cli import app
from gateway.events import audit_trail
from gateway.ports import InboundMessage
from tests.conftest import TENANT, TESTDATA, make_settings
from tests.integration.conftest import envelope

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RG_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RG_MAPPINGS_DIR", str(TESTDATA / "mappings"))
    monkeypatch.setenv("RG_FIXTURES_DIR", str(TESTDATA / "fixtures"))
    gateway = Gateway.create(make_settings(tmp_path))
    for n in range(3):
        case = gateway.pipeline.intake(InboundMessage(
            channel="portal", source_id=f"cli-audit-{n}", payload=json.dumps(envelope()).encode(),
            media_type="application/json", received_at=dt.datetime.now(dt.UTC), tenant_ars=TENANT)).case
        assert case is not None
    assert audit_trail.pending(gateway.db)[TENANT].count == 3  # one case.created each (inline intake)
    gateway.worker.run_once()  # the worker's round ends with the sealing
    assert audit_trail.pending(gateway.db) == {}
    gateway.close()
    return tmp_path


def tamper(data_dir: Path, *statements: str) -> None:
    """Statements with the municipality's ARS as their one parameter (if they have one)."""
    conn = sqlite3.connect(data_dir / "gateway.db")
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("DROP TRIGGER audit_no_delete")
    for statement in statements:
        conn.execute(statement, {"ars": TENANT})
    conn.commit()
    conn.close()


def test_verify_passes_and_head_prints_the_chain_heads(data_dir: Path) -> None:
    verified = runner.invoke(app, ["audit", "verify"])
    assert verified.exit_code == 0, verified.output
    assert f"chain {TENANT}:" in verified.output and "intact" in verified.output
    heads = json.loads(runner.invoke(app, ["audit", "head", "--tenant", TENANT]).stdout)
    assert [(h["tenant"], sorted(h)) for h in heads] == [(TENANT, ["at", "hash", "position", "tenant"])]
    assert heads[0]["position"] >= 3 and len(heads[0]["hash"]) == 64


def test_verify_fails_naming_a_changed_entry(data_dir: Path) -> None:
    tamper(data_dir, "UPDATE audit SET details = '{\"reason\": \"none\"}' WHERE position = 2 AND chain != '-'")
    conn = sqlite3.connect(data_dir / "gateway.db")
    seq = conn.execute("SELECT seq FROM audit WHERE position = 2 AND chain = ?", (TENANT,)).fetchone()[0]
    conn.close()
    result = runner.invoke(app, ["audit", "verify", "--tenant", TENANT])
    assert result.exit_code == 1
    assert f"chain {TENANT}: TAMPERED — entry seq {seq} at position 2" in result.output
    assert "was changed" in result.output and "1 of 1 chain(s) failed verification" in result.output


def test_an_anchor_catches_entries_cut_off_the_end(data_dir: Path) -> None:
    anchor = data_dir / "anchor.json"
    anchor.write_text(runner.invoke(app, ["audit", "head"]).stdout, encoding="utf-8")
    assert runner.invoke(app, ["audit", "verify", "--anchor", str(anchor)]).exit_code == 0
    tamper(data_dir, "DELETE FROM audit WHERE chain = :ars AND position > 2",
           "UPDATE audit_heads SET position = 2, hash = (SELECT hash FROM audit WHERE chain = :ars "
           "AND position = 2) WHERE chain = :ars")
    assert runner.invoke(app, ["audit", "verify"]).exit_code == 0  # the database alone cannot tell
    result = runner.invoke(app, ["audit", "verify", "--anchor", str(anchor)])
    assert result.exit_code == 1 and "entries were removed at the end" in result.output
    anchor.write_text("not json", encoding="utf-8")
    unreadable = runner.invoke(app, ["audit", "verify", "--anchor", str(anchor)])
    assert unreadable.exit_code == 2 and "anchor file" in unreadable.output


def test_showing_a_case_and_listing_quarantine_are_audited(data_dir: Path) -> None:
    conn = sqlite3.connect(data_dir / "gateway.db")
    case_id = conn.execute("SELECT case_id FROM audit WHERE action = 'case.created' ORDER BY seq").fetchone()[0]
    conn.close()
    assert runner.invoke(app, ["cases", "show", case_id]).exit_code == 0
    assert runner.invoke(app, ["replay", "list"]).exit_code == 0
    conn = sqlite3.connect(data_dir / "gateway.db")
    rows = conn.execute("SELECT actor, action, chain, case_id FROM audit WHERE actor = 'cli' ORDER BY seq").fetchall()
    conn.close()
    assert rows == [("cli", "cli.case_viewed", TENANT, case_id)]  # an empty list shows no one's data
    pending = runner.invoke(app, ["audit", "verify"])
    assert pending.exit_code == 0 and "1 entr(y/ies) not sealed yet (the oldest, seq " in pending.output
    head = runner.invoke(app, ["audit", "head"])
    assert head.exit_code == 0 and "1 entr(y/ies) not sealed yet are not covered" in head.stderr
    assert json.loads(head.stdout)[0]["position"] == 3
    sealed = runner.invoke(app, ["audit", "seal"])
    assert sealed.exit_code == 0 and sealed.output.strip() == "sealed 1 entr(y/ies)"
    verified = runner.invoke(app, ["audit", "verify"])
    assert verified.exit_code == 0 and "not sealed" not in verified.output
    assert [h["position"] for h in json.loads(runner.invoke(app, ["audit", "head", "--tenant", TENANT]).stdout)] \
        == [4]

"""The `rathaus-gateway` command line on a real SQLite data dir."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.bootstrap import Gateway
from gateway.cli import app
from gateway.ports import InboundMessage
from tests.conftest import TENANT, TESTDATA, make_settings
from tests.integration.conftest import envelope

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RG_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RG_MAPPINGS_DIR", str(TESTDATA / "mappings"))
    monkeypatch.setenv("RG_FIXTURES_DIR", str(TESTDATA / "fixtures"))
    return tmp_path


def test_migrate_and_list_cases(data_dir: Path) -> None:
    result = runner.invoke(app, ["migrate"])
    assert result.exit_code == 0 and "newest revision" in result.output
    gateway = Gateway.create(make_settings(data_dir))
    case = gateway.pipeline.intake(InboundMessage(channel="portal", source_id="cli-1",
                                             payload=json.dumps(envelope()).encode(), media_type="application/json",
                                             received_at=dt.datetime.now(dt.UTC), tenant_ars=TENANT)).case
    gateway.close()
    assert case is not None
    listed = runner.invoke(app, ["cases", "list"])
    assert listed.exit_code == 0 and case.reference in listed.output and "1 case(s)" in listed.output
    shown = runner.invoke(app, ["cases", "show", str(case.id)])
    assert shown.exit_code == 0 and json.loads(shown.output)["reference"] == case.reference
    missing = runner.invoke(app, ["cases", "show", str(uuid.uuid4())])
    assert missing.exit_code == 1


def test_replay_lists_and_replays_quarantine(data_dir: Path) -> None:
    gateway = Gateway.create(make_settings(data_dir))
    # received for the worker (as pull channels' messages are) and quarantined there
    outcome = gateway.pipeline.receive(InboundMessage(
        channel="portal", source_id="cli-bad", payload=json.dumps(envelope(service="99999999999999")).encode(),
        media_type="application/json", received_at=dt.datetime.now(dt.UTC), tenant_ars=TENANT))
    gateway.worker.run_until_idle()
    assert gateway.pipeline.outcome(outcome.inbox_id).state == "quarantined"
    gateway.close()
    listed = runner.invoke(app, ["replay", "list"])
    assert outcome.inbox_id in listed.output and "unknown-service" in listed.output
    replayed = runner.invoke(app, ["replay", "inbox", outcome.inbox_id])
    assert replayed.exit_code == 0 and "now quarantined" in replayed.output
    assert runner.invoke(app, ["replay", "inbox", str(uuid.uuid4())]).exit_code == 1


def test_catalog_check_reports_a_bad_mapping(data_dir: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RG_MAPPINGS_DIR")
    monkeypatch.delenv("RG_FIXTURES_DIR")
    shipped = runner.invoke(app, ["catalog", "check"])
    assert shipped.exit_code == 0 and "consistent" in shipped.output
    bad = tmp_path / "bad-mappings"
    (bad / "catalog").mkdir(parents=True)
    (bad / "portal").mkdir()
    (bad / "catalog" / "t.yaml").write_text((TESTDATA / "mappings" / "catalog" / "testhausen.yaml").read_text())
    broken = (TESTDATA / "mappings" / "portal" / "test-hund.yaml").read_text().replace("version: 3", "version: drei")
    (bad / "portal" / "x.yaml").write_text(broken)
    monkeypatch.setenv("RG_MAPPINGS_DIR", str(bad))
    result = runner.invoke(app, ["catalog", "check"])
    assert result.exit_code == 1
    assert "x.yaml:2" in result.output and "version" in result.output


def test_schema_export_check_passes_on_the_committed_schema() -> None:
    result = runner.invoke(app, ["schema", "export", "--check"])
    assert result.exit_code == 0, result.output

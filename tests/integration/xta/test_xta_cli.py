"""``rathaus-gateway xta ...`` against the sandbox, configured through RG_CONFIG_FILE."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from adapters.xta import samples, testing
from adapters.xta.cli import app
from adapters.xta.client import XtaClient


@pytest.fixture
def configured(sandbox: tuple[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url, _ = sandbox
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data"),
                                      "adapters": {"xta": testing.options(url)}}))
    monkeypatch.setenv("RG_CONFIG_FILE", str(config))
    return url


def test_check_status_lookup_and_close(configured: str) -> None:
    with httpx.Client() as http:
        message_id = samples.post(XtaClient(configured, samples.STATE_PORTAL, http), samples.GEWERBE,
                                  samples.GEWERBE.fixtures()[0].read_bytes())
    runner = CliRunner()
    assert runner.invoke(app, ["check"]).output.strip() == "account active"
    status = runner.invoke(app, ["status"])
    assert status.exit_code == 0 and message_id in status.output and samples.GEWERBE.code in status.output
    assert "Yılmaz" not in status.output  # identifiers only, never content
    assert runner.invoke(app, ["lookup", samples.GEWERBE.service, samples.TOWN.value]).output.strip() == "available"
    assert runner.invoke(app, ["close", message_id]).exit_code == 0
    again = runner.invoke(app, ["close", message_id])
    assert again.exit_code == 1 and "close failed" in again.output


def test_init_test_pki(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["init-test-pki", "--out", str(tmp_path / "tls")])
    assert result.exit_code == 0 and (tmp_path / "tls" / "client-tangerhuette.pem").is_file()

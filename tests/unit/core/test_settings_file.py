"""The settings file is read by the project's one YAML loader, under the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import Settings
from gateway.errors import ConfigurationError


def test_settings_file_values_are_used_and_the_environment_wins(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text("queue_name: from-file\npoll_interval_seconds: 3\n", encoding="utf-8")
    monkeypatch.setenv("RG_CONFIG_FILE", str(config))
    monkeypatch.setenv("RG_POLL_INTERVAL_SECONDS", "7")
    settings = Settings()
    assert settings.queue_name == "from-file"
    assert settings.poll_interval_seconds == 7


def test_a_duplicate_key_in_the_settings_file_is_refused_with_its_line(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text("queue_name: a\nadapters:\n  portal: {}\nqueue_name: b\n", encoding="utf-8")
    monkeypatch.setenv("RG_CONFIG_FILE", str(config))
    with pytest.raises(ConfigurationError, match=r"gateway\.yaml:4: duplicate key 'queue_name'"):
        Settings()

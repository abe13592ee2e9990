"""Every secret and key file the demo and test fixtures ship is refused unless ``demo: true``:
for each adapter, whatever its options call them, and a copied key file as much as the original."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError

from gateway.config import Settings
from gateway.yamlfile import load_yaml
from tests.conftest import REPO, make_settings

DEMO = load_yaml(REPO / "fixtures" / "demo" / "gateway.yaml").data

# Per adapter: options as an installation would write them, naming what the fixtures ship,
# and the settings each finding must name (never the secret's value).
CASES: dict[str, tuple[dict[str, Any], list[str]]] = {
    "fitconnect": (DEMO["adapters"]["fitconnect"], [
        "adapters.fitconnect.client_secret", "adapters.fitconnect.trust_anchor",
        "adapters.fitconnect.destinations[0].callback_secret",
        "adapters.fitconnect.destinations[0].decryption_keys[0]",
        "adapters.fitconnect.destinations[0].decryption_keys[1]",
        "adapters.fitconnect.destinations[0].signing_key", "adapters.fitconnect.postbox.author_key",
        "adapters.fitconnect.postbox.author_certificate"]),
    "citizen_login": (DEMO["adapters"]["citizen_login"], [
        "adapters.citizen_login.session_signing_key",
        "adapters.citizen_login.tenants[0].signing_keys[0].key",
        "adapters.citizen_login.tenants[0].signing_keys[0].cert",
        "adapters.citizen_login.tenants[0].encryption_keys[0].key",
        "adapters.citizen_login.tenants[0].encryption_keys[0].cert"]),
    "xta": ({"server_url": "https://xta.example.org", "party": "wgb:150905350535", "tenant_ars": "150905350535",
             "tls": {"cert": "fixtures/xta/tls/client-tangerhuette.pem",
                     "key": "fixtures/xta/tls/client-tangerhuette.key", "ca": "fixtures/xta/tls/ca.pem"}},
            ["adapters.xta.tls.cert", "adapters.xta.tls.key", "adapters.xta.tls.ca"]),
    "email": ({"relay": {"host": "mail.example.org", "ca_file": "fixtures/email/tls/ca.pem"},
               "signing_key": "fixtures/email/pgp/citizen-cv25519.sec.asc"},
              ["adapters.email.relay.ca_file", "adapters.email.signing_key"]),
    "hybridmail": ({"ca_file": "fixtures/pki/test-intermediate-ca.pem", "vendor_id": "v", "ekp": "1"},
                   ["adapters.hybridmail.ca_file"]),
}


def _refused(tmp_path: Path, **overrides: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        make_settings(tmp_path, base_dir=REPO, **overrides)
    return str(caught.value.errors()[0]["msg"])


@pytest.mark.parametrize("adapter", sorted(CASES))
def test_each_adapters_published_secrets_and_key_files_are_refused_outside_the_demo(tmp_path: Path,
                                                                                    adapter: str) -> None:
    options, expected = CASES[adapter]
    message = _refused(tmp_path, adapters={adapter: options})
    found = [item.split(" ", 1)[0] for item in message.split("for the demo only: ", 1)[1].split("; ")]
    assert found == expected
    for value in _strings(options):
        if "secret" in value or "key-" in value:
            assert value not in message, "a finding must not quote the secret"
    assert make_settings(tmp_path, base_dir=REPO, adapters={adapter: options}, demo=True).demo


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return [value] if isinstance(value, str) else []


def test_the_whole_demo_configuration_is_refused_without_demo_true(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RG_CONFIG_FILE", str(REPO / "fixtures" / "demo" / "gateway.yaml"))
    monkeypatch.setenv("RG_DEMO", "false")
    monkeypatch.setenv("RG_TOKEN_SIGNING_KEY", "a-key-of-our-own-0123456789abcdef0123456789")
    monkeypatch.setenv("RG_CLIENTS", "[]")
    monkeypatch.setenv("RG_CONSOLE__ACCOUNTS", "[]")
    with pytest.raises(ValidationError, match="session_signing_key is a secret published in fixtures/demo"):
        Settings()


def test_a_copied_fixture_key_is_refused_by_its_content(tmp_path: Path) -> None:
    copy = tmp_path / "keys" / "production-looking-name.pem"
    copy.parent.mkdir()
    shutil.copy(REPO / "fixtures" / "citizen_login" / "keys" / "sp-signing-2026.key.pem", copy)
    message = _refused(tmp_path, adapters={"citizen_login": {"tenants": [{"signing_keys": [{"key": str(copy)}]}]}})
    assert "adapters.citizen_login.tenants[0].signing_keys[0].key names a file with the content of " \
           "fixtures/citizen_login/keys/sp-signing-2026.key.pem" in message


def test_keys_and_secrets_of_ones_own_are_accepted(tmp_path: Path) -> None:
    key = tmp_path / "own.key.pem"
    key.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    options = {"session_signing_key": "an-own-session-key-with-enough-bytes-0123",
               "tenants": [{"signing_keys": [{"key": str(key)}]}]}
    assert make_settings(tmp_path, adapters={"citizen_login": options}).adapters["citizen_login"] == options

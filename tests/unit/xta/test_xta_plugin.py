"""install(): options are validated, channel, source and sender are registered under "xta"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adapters.xta import testing
from adapters.xta.plugin import install
from gateway.adapter_registry import Adapters
from gateway.errors import ConfigurationError
from gateway.plugins import AdapterContext, Received
from gateway.ports import ChannelAdapter, InboundSource, Sender
from gateway.store.blobs import FilesystemBlobStore
from tests.unit.xta.conftest import REPO

TLS = REPO / "fixtures" / "xta" / "tls"


def _ctx(options: dict[str, Any], tmp_path: Path) -> AdapterContext:
    def receive(message: object) -> Received:
        raise AssertionError("install must not receive anything")

    return AdapterContext(options=options, adapters=Adapters(), blobs=FilesystemBlobStore(tmp_path),
                          receive=receive, intake=receive,  # type: ignore[arg-type]
                          state=testing.state_store(tmp_path / "gateway.db"), base_dir=REPO)


def test_install_registers_channel_source_and_sender(tmp_path: Path) -> None:
    ctx = _ctx(testing.options(), tmp_path)
    install(ctx)
    assert isinstance(ctx.adapters.channels.get("xta"), ChannelAdapter)
    assert isinstance(ctx.adapters.sources.get("xta"), InboundSource)
    assert isinstance(ctx.adapters.senders.get("xta"), Sender)


def test_the_removed_sender_state_file_option_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="state_file"):
        install(_ctx(testing.options(sender={"state_file": "xta-sent.sqlite3"}), tmp_path))


def test_mutual_tls_options_load_the_test_pki(tmp_path: Path) -> None:
    tls = {"cert": str(TLS / "client-tangerhuette.pem"), "key": str(TLS / "client-tangerhuette.key"),
           "ca": str(TLS / "ca.pem")}
    install(_ctx(testing.options("https://127.0.0.1:8443", insecure_http=False, tls=tls), tmp_path))


@pytest.mark.parametrize(("overrides", "message"), [
    ({"insecure_http": False}, "plain http"),
    ({"server_url": "https://xta.example.de", "insecure_http": False}, "client certificate"),
    ({"server_url": "ftp://x"}, "http"),
    ({"tenant_ars": "15090535"}, "tenant_ars"),
    ({"party": "no-prefix"}, "party"),
    ({"unknown_option": 1}, "unknown_option"),
    ({"formats": {"x.y": {"xsd": "xoev/missing.xsd", "payload_schema": "urn:x"}}}, "not found"),
    ({"server_url": "https://x", "insecure_http": False,
      "tls": {"cert": "fixtures/xta/tls/none.pem", "key": "fixtures/xta/tls/none.key"}}, "client certificate"),
])
def test_bad_options_are_configuration_errors(tmp_path: Path, overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        install(_ctx(testing.options(**overrides), tmp_path))

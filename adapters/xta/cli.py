"""``rathaus-gateway xta ...``: look at the XTA account and mailbox, make the test PKI.

The commands read the ``adapters.xta`` options of the gateway configuration
(``RG_CONFIG_FILE``) and print identifiers and states only, never message content.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer

from adapters.xta.client import XtaClient
from adapters.xta.metadata import Party
from adapters.xta.plugin import http_client, load_options
from adapters.xta.sandbox import pki
from gateway.config import Settings
from gateway.errors import ConfigurationError, GatewayError

app = typer.Typer(help="XTA 2 channel: account check, mailbox status, test PKI.", no_args_is_help=True)


def _client() -> XtaClient:
    settings = Settings()
    if "xta" not in settings.adapters:
        raise ConfigurationError("the gateway configuration has no adapters.xta section")
    options = load_options(settings.adapters["xta"])
    author = Party(options.party, options.party_type, name=options.party_name)
    return XtaClient(options.server_url, author, http_client(options, settings.base_dir))


def _run(action: str, call: Callable[[], object]) -> None:
    try:
        call()
    except GatewayError as exc:
        typer.echo(f"{action} failed: {exc.detail}", err=True)
        raise typer.Exit(1) from None


@app.command("check")
def check() -> None:
    """checkAccountActive: is the mailbox account usable with this certificate?"""
    def go() -> None:
        typer.echo("account active" if _client().check_account_active() else "account NOT active")
    _run("checkAccountActive", go)


@app.command("status")
def status(limit: int = 100) -> None:
    """List the open messages in the mailbox (MessageID, type, author)."""
    def go() -> None:
        page = _client().get_status_list(limit)
        for entry in page.entries:
            typer.echo(f"{entry.message_id}  {entry.message_type.code}  from {entry.author.value}")
        typer.echo(f"{len(page.entries)} listed, {page.pending} more pending")
    _run("getStatusList", go)


@app.command("lookup")
def lookup(service: str, reader: str) -> None:
    """lookupService: can READER be reached for SERVICE?"""
    def go() -> None:
        result = _client().lookup_service(service, Party(reader))
        typer.echo({True: "available", False: "not available", None: "unknown"}[result])
    _run("lookupService", go)


@app.command("close")
def close(message_id: str) -> None:
    """Close (acknowledge) one message by hand, e.g. one left open after quarantine."""
    _run("close", lambda: _client().close([message_id]))
    typer.echo(f"closed {message_id}")


@app.command("init-test-pki")
def init_test_pki(out: Path = Path("fixtures/xta/tls")) -> None:
    """Create the TEST ONLY CA, sandbox server and client certificates in OUT."""
    pki.generate(out)
    typer.echo(f"wrote the test PKI to {out} (TEST ONLY)")

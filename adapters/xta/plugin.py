"""Entry point ``adapters.xta.plugin:install``: wires the XTA channel into a gateway.

::

    adapters:
      xta:
        server_url: https://xta.example.de          # base URL; ports live under /services/XTAService/
        party: "wgb:150905350535"                    # the municipality's PartyIdentifier (mailbox)
        party_name: Einheitsgemeinde Stadt Tangerhütte
        tenant_ars: "150905350535"
        tls: {cert: secrets/xta-client.pem, key: secrets/xta-client.key, ca: secrets/xta-ca.pem}
        poll_interval_seconds: 60
        quarantine_then_close: true                 # false: leave permanently failing messages open
        answers:                                    # the xta reply channel: answer type per incoming format
          fim.S05000227.05000227001005: {message_type: ..., service: ..., business_scenario: ..., payload_schema: ...}
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import httpx
from pydantic import ValidationError

from adapters.xta.channel import XtaChannel
from adapters.xta.client import XtaClient
from adapters.xta.formats import Formats
from adapters.xta.metadata import Party
from adapters.xta.options import XtaOptions
from adapters.xta.reply_channel import XtaReplyChannel
from adapters.xta.sender import XtaSender
from adapters.xta.source import XtaSource
from gateway.errors import ConfigurationError
from gateway.plugins import AdapterContext
from gateway.ports import BlobStore, StateStore

log = logging.getLogger("adapters.xta")


def load_options(raw: dict[str, object]) -> XtaOptions:
    try:
        return XtaOptions.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "options"
        raise ConfigurationError(f"adapters.xta.{where}: {first['msg']}") from None


def http_client(options: XtaOptions, base_dir: Path) -> httpx.Client:
    """One HTTP client for all three ports, with the municipality's client certificate."""
    verify: ssl.SSLContext | bool = True
    if options.tls is not None:
        try:
            ca = base_dir / options.tls.ca if options.tls.ca else None
            context = ssl.create_default_context(cafile=str(ca) if ca else None)
            context.load_cert_chain(base_dir / options.tls.cert, base_dir / options.tls.key)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(f"adapters.xta.tls: cannot load the client certificate ({exc})") from None
        verify = context
    return httpx.Client(verify=verify, timeout=options.timeout_seconds, follow_redirects=False)


def build(options: XtaOptions, base_dir: Path, state: StateStore, blobs: BlobStore, http: httpx.Client | None = None
          ) -> tuple[XtaChannel, XtaSource, XtaSender]:
    channel, source, sender, _ = build_all(options, base_dir, state, blobs, http)
    return channel, source, sender


def build_all(options: XtaOptions, base_dir: Path, state: StateStore, blobs: BlobStore,
              http: httpx.Client | None = None) -> tuple[XtaChannel, XtaSource, XtaSender, XtaReplyChannel]:
    author = Party(options.party, options.party_type, name=options.party_name)
    client = XtaClient(options.server_url, author, http or http_client(options, base_dir),
                       max_response_bytes=options.max_message_bytes)
    formats = Formats.from_options(options, base_dir)
    sender = XtaSender(options.sender, author, client, state)
    replies = XtaReplyChannel(options, author, client, state)
    return XtaChannel(options, formats, client, blobs), XtaSource(options, client, blobs), sender, replies


def install(ctx: AdapterContext) -> None:
    options = load_options(ctx.options)
    channel, source, sender, replies = build_all(options, ctx.base_dir, ctx.state, ctx.blobs)
    ctx.adapters.channels.register("xta", channel)
    ctx.adapters.sources.register("xta", source)
    ctx.adapters.senders.register("xta", sender)
    ctx.adapters.reply_channels.register("xta", replies)  # answers only formats listed in options.answers

"""Registers the portal channel and its HTTP routes."""

from __future__ import annotations

from adapters.portal.channel import CHANNEL, PortalChannel
from adapters.portal.routes import router
from gateway.errors import ConfigurationError
from gateway.plugins import AdapterContext


def install(ctx: AdapterContext) -> None:
    if ctx.options:
        raise ConfigurationError(f"the portal adapter takes no options, got {sorted(ctx.options)}")
    ctx.adapters.channels.register(CHANNEL, PortalChannel(ctx.blobs, ctx.state))
    ctx.routers.append(router)

"""Registers the portal channel and its HTTP routes."""

from __future__ import annotations

from pydantic import ValidationError

from adapters.portal.channel import CHANNEL, PortalChannel
from adapters.portal.options import PortalOptions
from adapters.portal.routes import router
from gateway.errors import ConfigurationError
from gateway.plugins import AdapterContext


def install(ctx: AdapterContext) -> None:
    try:
        options = PortalOptions.model_validate(ctx.options)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigurationError(f"adapters.portal.{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    ctx.adapters.channels.register(CHANNEL, PortalChannel(ctx.blobs, ctx.state, options, ctx.multiline_patterns))
    ctx.routers.append(router)

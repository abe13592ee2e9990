"""How adapters plug in without the core importing them.

An adapter package declares an entry point in the group ``rathaus_gateway.adapters``
(``name = "adapters.<system>.plugin:install"``). At start-up the core calls each
configured adapter's ``install(ctx)`` with an :class:`AdapterContext`; the adapter
registers its channel (and, for pull channels, its inbound source) and may add HTTP
routes (callbacks) to the API. ``ctx.receive(message)`` keeps a message and queues it for
a worker (pull channels: a callback's pick-up; polls go through the worker itself);
``ctx.intake(message, fingerprint)`` records and processes it at once (a synchronous
channel such as the portal, whose client waits for the case). ``ctx.counters(name)`` gives
rate-limit counters for the gateway's throttle (``gateway/api/throttle.py``), shared by every
process in the scale-out profile, so an adapter's endpoints are limited as the token endpoint is.

Sandboxes of external systems are entry points in ``rathaus_gateway.sandboxes``:
``name = "adapters.<system>.sandbox.app:create_app"``, a zero-argument factory of an
ASGI app, started by ``rathaus-gateway sandbox <name>``. Demo senders for ``make run``
are entry points in ``rathaus_gateway.demos``: a callable ``run(gateway_url: str,
sandbox_urls: dict[str, str]) -> None``. Adapter CLI commands are entry points in
``rathaus_gateway.commands``: a ``typer.Typer`` mounted as ``rathaus-gateway <name> ...``.

Reply channels (``ctx.adapters.reply_channels``) are named in the service catalog; the group
``rathaus_gateway.reply_channels`` says which adapter registers which reply channel
(``name = "adapters.<system>.plugin:install"``), so ``catalog check`` can tell a misspelt channel
from one whose adapter is merely not configured, without starting any adapter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from fastapi import APIRouter

from gateway.adapter_registry import Adapters
from gateway.api.throttle import Counters, MemoryCounters
from gateway.errors import ConfigurationError
from gateway.ports import BlobStore, InboundMessage, Outcome, Received, StateStore

ADAPTER_GROUP = "rathaus_gateway.adapters"
SANDBOX_GROUP = "rathaus_gateway.sandboxes"
DEMO_GROUP = "rathaus_gateway.demos"
COMMAND_GROUP = "rathaus_gateway.commands"
REPLY_CHANNEL_GROUP = "rathaus_gateway.reply_channels"


@dataclass
class AdapterContext:
    options: dict[str, Any]
    adapters: Adapters
    blobs: BlobStore
    receive: Callable[[InboundMessage], Received]
    intake: Callable[[InboundMessage, str | None], Outcome]
    state: StateStore
    base_dir: Path
    routers: list[APIRouter] = field(default_factory=list)
    # where an adapter may keep working files (e.g. letters prepared for hybrid mail)
    data_dir: Path | None = None
    # source format -> where its JSON holds multi-line text (gateway/mapping/multiline.py)
    multiline_patterns: Callable[[str], frozenset[tuple[str, ...]]] = field(default=lambda _: frozenset())
    # name -> rate-limit counters of their own (Redis in the scale-out profile: gateway/api/throttle.py)
    counters: Callable[[str], Counters] = field(default=lambda _: MemoryCounters())


def _load(group: str, name: str) -> Any:
    found = [ep for ep in entry_points(group=group) if ep.name == name]
    if not found:
        raise ConfigurationError(f"no entry point {name!r} in group {group!r}; is the package installed?")
    return found[0].load()


def install_adapters(names: dict[str, dict[str, Any]], ctx_factory: Callable[[dict[str, Any]], AdapterContext]
                     ) -> list[AdapterContext]:
    contexts = []
    for name, options in names.items():
        ctx = ctx_factory(options)
        _load(ADAPTER_GROUP, name)(ctx)
        contexts.append(ctx)
    return contexts


def sandbox_factory(name: str) -> Callable[[], Any]:
    factory: Callable[[], Any] = _load(SANDBOX_GROUP, name)
    return factory


def demo_runner(name: str) -> Callable[..., None]:
    runner: Callable[..., None] = _load(DEMO_GROUP, name)
    return runner


def available(group: str) -> list[str]:
    return sorted(ep.name for ep in entry_points(group=group))


__all__ = [
    "ADAPTER_GROUP",
    "COMMAND_GROUP",
    "DEMO_GROUP",
    "REPLY_CHANNEL_GROUP",
    "SANDBOX_GROUP",
    "AdapterContext",
    "Outcome",
    "Received",
    "available",
    "demo_runner",
    "install_adapters",
    "sandbox_factory",
]

"""Registry adapters register into: one unique name per adapter."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

from gateway.errors import ConfigurationError
from gateway.ports import ChannelAdapter, InboundSource, ReplyChannelAdapter, Sender
from gateway.sessions import SessionService

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str) -> None:
        self._kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T) -> None:
        if name in self._items:
            raise ConfigurationError(f"{self._kind} {name!r} is registered twice")
        self._items[name] = item

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise ConfigurationError(f"no {self._kind} named {name!r} is registered") from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def items(self) -> list[tuple[str, T]]:
        return sorted(self._items.items())


class Adapters:
    """All adapters of one running gateway."""

    def __init__(self) -> None:
        self.channels: Registry[ChannelAdapter] = Registry("channel")
        self.sources: Registry[InboundSource] = Registry("inbound source")
        self.senders: Registry[Sender] = Registry("sender")
        self.reply_channels: Registry[ReplyChannelAdapter] = Registry("reply channel")
        # citizen logins register the service that signs their session tokens (by its name,
        # which is the tokens' ``kid``): the portal channel takes the applicant from there
        self.sessions: Registry[SessionService] = Registry("session service")

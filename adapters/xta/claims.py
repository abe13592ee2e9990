"""A MessageID claimed once per outgoing message, in the gateway's database, before sendMessage.

Used by the forwarding sender and the reply channel: the first attempt creates a MessageID and
claims it with an insert only one process can win; every later or concurrent attempt sends under
that same id, and the server's 9024 ("MessageID already used") proves an earlier attempt arrived.
So a crash or a second worker never produces a second message."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from gateway.errors import TransientError
from gateway.ports import StateStore

_MAX_KEY = 255  # adapter_state.key


def state_key(*parts: str) -> str:
    key = "|".join(parts)
    if len(key) <= _MAX_KEY:
        return key
    return f"{parts[0]}|sha256:{hashlib.sha256('|'.join(parts[1:]).encode()).hexdigest()}"


def claim(state: StateStore, namespace: str, key: str, create_message_id: Callable[[], str]) -> dict[str, object]:
    """The record for ``key``: the existing one, or a new MessageID claimed for it."""
    known = state.get(namespace, key)
    if known is not None:
        return known
    claimed: dict[str, object] = {"messageId": create_message_id(), "sent": False}
    if state.add(namespace, key, claimed):
        return claimed
    # Another process claimed it first: send under its id (the id just created stays unused).
    known = state.get(namespace, key)
    if known is None:
        raise TransientError("xta sender state changed concurrently; try again")
    return known


def mark_sent(state: StateStore, namespace: str, key: str, message_id: str) -> None:
    state.put(namespace, key, {"messageId": message_id, "sent": True})

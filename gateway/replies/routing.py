"""Which channel carries a reply: the catalog's channels for the kind of reply, the applicant's
own choice first, then the first channel that can serve the case (its ``recipient`` is not None).

Channel names are generic: whatever the catalog names and an adapter registered. The applicant's
choice is the case's ``reply_channel.kind`` (from FIT-Connect's ``replyChannel``, the portal
envelope or the form); a channel of the same name goes first when the catalog lists it for the
kind ("post" names no channel: the catalog's order applies)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from gateway.adapter_registry import Registry
from gateway.case.model import Case
from gateway.ports import ReplyChannelAdapter

log = logging.getLogger(__name__)

MAX_RECIPIENT_CHARS = 4000


@dataclass(frozen=True)
class Route:
    channel: str
    recipient: str


def preferred_channel(case: Case) -> str | None:
    if case.reply_channel is None or case.reply_channel.kind == "post":
        return None
    return case.reply_channel.kind


def plan(allowed: list[str], preferred: str | None) -> list[str]:
    """The catalog's channels for the kind, the applicant's choice moved to the front."""
    if preferred is not None and preferred in allowed:
        return [preferred, *(name for name in allowed if name != preferred)]
    return list(allowed)


def recipient_of(channels: Registry[ReplyChannelAdapter], name: str, case: Case) -> tuple[str | None, str]:
    """Where channel ``name`` would deliver to ``case``, or None and why not."""
    if name not in channels:
        return None, "not configured"
    try:
        recipient = channels.get(name).recipient(case)
    except Exception as exc:  # one broken channel must not stop the others from being asked
        log.warning("reply channel %s could not name a recipient: %s", name, type(exc).__name__)
        return None, f"error: {type(exc).__name__}"
    if recipient is None:
        return None, "cannot serve this case"
    if not recipient or len(recipient) > MAX_RECIPIENT_CHARS:
        return None, "named an unusable recipient"
    return recipient, "possible"


def first_possible(order: list[str], case: Case, channels: Registry[ReplyChannelAdapter],
                   skip: frozenset[str] | set[str] = frozenset()) -> tuple[Route | None, list[dict[str, Any]]]:
    """The first channel of ``order`` (not in ``skip``) that can serve ``case``, and why each one
    before it could not (kept with a "send by post" task)."""
    passed_over: list[dict[str, Any]] = []
    for name in order:
        if name in skip:
            continue
        recipient, why = recipient_of(channels, name, case)
        if recipient is not None:
            return Route(name, recipient), passed_over
        passed_over.append({"channel": name, "reason": why})
    return None, passed_over

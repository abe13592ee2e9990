"""Delivery states and the order they may follow one another.

``queued`` (committed, the outbox will deliver it) -> ``sent`` (handed to the channel) ->
``accepted`` (the channel took it: relay, letter shop, Zustelldienst) -> ``delivered`` (in the
recipient's mailbox / posted) -> ``read`` (retrieved, where the channel reports it). ``failed``:
the channel refused the reply or reports it lost (the next channel takes over). ``dead``: the
channel stayed unreachable through every retry (an admin replays it)."""

from __future__ import annotations

from typing import Literal

from gateway.events.cloudevents import (
    CASE_REPLY_DELIVERED,
    CASE_REPLY_FAILED,
    CASE_REPLY_QUEUED,
    CASE_REPLY_SENT,
)

State = Literal["queued", "sent", "accepted", "delivered", "read", "failed", "dead"]
STATES: tuple[State, ...] = ("queued", "sent", "accepted", "delivered", "read", "failed", "dead")
PROGRESS: dict[str, int] = {"queued": 0, "sent": 1, "accepted": 2, "delivered": 3, "read": 4}
FINAL: frozenset[str] = frozenset({"read", "failed"})
# states whose remote side may still change: the worker follows them through the channel
FOLLOWED: frozenset[str] = frozenset({"sent", "accepted", "delivered"})

EVENT_TYPE: dict[str, str] = {
    "queued": CASE_REPLY_QUEUED, "sent": CASE_REPLY_SENT, "accepted": CASE_REPLY_SENT,
    "delivered": CASE_REPLY_DELIVERED, "read": CASE_REPLY_DELIVERED,
    "failed": CASE_REPLY_FAILED, "dead": CASE_REPLY_FAILED,
}

POST_TASK_STATES = ("open", "done", "cancelled")


def advances(current: str, new: str) -> bool:
    """Whether ``new`` is news after ``current``: states only move forward (a late or repeated
    report of an earlier state changes nothing); failed and read are final; a dead delivery may
    come back (replayed, or the channel reports it after all)."""
    if new == current or current in FINAL:
        return False
    if new in ("failed", "dead") or current == "dead":
        return True
    return PROGRESS.get(new, -1) > PROGRESS.get(current, -1)

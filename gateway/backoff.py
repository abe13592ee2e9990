"""Exponential backoff with jitter, shared by intake retries and outbox deliveries."""

from __future__ import annotations

import random

from gateway.config import Settings


def backoff_seconds(settings: Settings, attempts: int) -> float:
    """Half fixed, half random, capped: retries spread out without losing their growth."""
    ceiling = min(settings.backoff_max_seconds, settings.backoff_base_seconds * 2 ** attempts)
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not security

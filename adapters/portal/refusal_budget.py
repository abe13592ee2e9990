"""What refused requests may cost a portal client: the bytes of its refused applications are
counted per hour (``refused_bytes_per_hour``); beyond that its applications are answered 429
with ``Retry-After``, before their bodies are read. A refused request's content is deleted at
once, but reading, hashing and writing it costs anyway: a client that keeps sending what is
refused must not keep the disk and the CPU busy.

The count lives in the adapter state store (the gateway's database), so it holds across
processes; two processes counting at the same moment may each miss the other's last request
(read, then write), which only loosens the budget by a request or two.
"""

from __future__ import annotations

import time

from adapters.portal.options import PortalOptions
from gateway.errors import TooManyRequests
from gateway.ports import StateStore

NAMESPACE = "portal.refused"
WINDOW_SECONDS = 3600


def check(state: StateStore, options: PortalOptions, client_id: str) -> None:
    """Refuse the client's next application while its refused bytes of the hour are used up."""
    spent = state.get(NAMESPACE, client_id)
    if spent is None or int(str(spent["bytes"])) < options.refused_bytes_per_hour:
        return
    retry_after = max(1, int(float(str(spent["since"])) + WINDOW_SECONDS - time.time()))
    raise TooManyRequests("too many refused applications from this client: correct them, then send again "
                          "after the pause", retry_after=retry_after, refused_bytes=int(str(spent["bytes"])),
                          quota_refused_bytes=options.refused_bytes_per_hour)


def spend(state: StateStore, client_id: str, size: int) -> None:
    """Count a refused request's bytes (its window starts with the first refusal)."""
    now = time.time()
    spent = state.get(NAMESPACE, client_id)
    since = float(str(spent["since"])) if spent is not None else now
    total = (int(str(spent["bytes"])) if spent is not None else 0) + size
    state.put(NAMESPACE, client_id, {"bytes": total, "since": since},
              ttl_seconds=max(1.0, since + WINDOW_SECONDS - now))

"""The XTA mailbox as an inbound source: status list, then getMessage for each new entry.

Messages stay in the mailbox until the core has committed them and the outbox calls
``close``; until then every poll lists them again. The source therefore remembers what it
has handed over and fetches such a message again only after ``refetch_after_seconds`` (the
core deduplicates by MessageID, so a repeat is harmless, only wasteful).

getMessage is streamed into the blob store (one blob per MIME part, :mod:`.original`); the
core receives the small manifest naming them as the raw original, and the parts with it.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator

from adapters.xta.client import XtaClient
from adapters.xta.errors import XtaUnknownMessage
from adapters.xta.metadata import MessageMetaData
from adapters.xta.options import XtaOptions
from adapters.xta.original import MEDIA_TYPE
from gateway.ports import BlobStore, InboundMessage

log = logging.getLogger("adapters.xta")
# A server that always reports more pending entries must not keep one poll going forever.
MAX_PAGES_PER_POLL = 50


class XtaSource:
    name = "xta"

    def __init__(self, options: XtaOptions, client: XtaClient, blobs: BlobStore,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.options = options
        self.client = client
        self.blobs = blobs
        self._clock = clock
        self._handed_over: dict[str, float] = {}
        self._last_poll: float | None = None

    @property
    def poll_interval_seconds(self) -> float:
        """The worker polls no more often (and so each poll asks the server)."""
        return float(self.options.poll_interval_seconds)

    def poll(self) -> Iterator[InboundMessage]:
        now = self._clock()
        if self._last_poll is not None and now - self._last_poll < self.options.poll_interval_seconds:
            return
        self._last_poll = now
        cutoff = now - self.options.refetch_after_seconds
        self._handed_over = {k: t for k, t in self._handed_over.items() if t > cutoff}
        for entry in self._list():
            if entry.message_id in self._handed_over:
                continue
            if entry.reader.value != self.options.party:
                log.warning("xta status list holds %s for another reader; skipped", entry.message_id)
                continue
            try:
                original = self.client.fetch_message(entry.message_id, self.blobs)
            except XtaUnknownMessage:
                continue  # closed in the meantime
            yield InboundMessage(
                channel="xta",
                source_id=entry.message_id,
                payload=original.to_bytes(),
                media_type=MEDIA_TYPE,
                received_at=dt.datetime.now(dt.UTC),
                tenant_ars=self.options.tenant_ars,
                references={"service": entry.service, "messageType": entry.message_type.code},
                parts=original.blobs,
            )
            # Only now, when the core asks for the next message, has it taken this one:
            # if it failed on it, the generator is not resumed and the next poll fetches it again.
            self._handed_over[entry.message_id] = self._clock()

    def _list(self) -> list[MessageMetaData]:
        page = self.client.get_status_list(self.options.page_size)
        entries, pages = list(page.entries), 1
        while page.pending > 0 and (page.entries or page.skipped):
            if pages == MAX_PAGES_PER_POLL:
                log.warning("xta status list still has %d pending after %d pages; the rest is listed "
                            "once earlier messages are closed", page.pending, pages)
                break
            page = self.client.get_next_status_list(page.request_id)
            entries.extend(page.entries)
            pages += 1
        return entries

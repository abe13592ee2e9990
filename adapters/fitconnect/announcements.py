"""Submissions a callback announced, kept until the worker has fetched them.

The callback endpoint runs in the API process and answers the Zustelldienst at once: it only
checks the callback and records each announced submission here (the adapter state store, in
the gateway's database, so a worker process sees it). The worker's FIT-Connect source fetches
the recorded ones first, on every poll of the worker, before its own (slower) listing of the
destinations; an announcement is forgotten only once the core has received the fetched
submission, or the submission is gone. Nothing is lost either way: a submission stays in the
Zustelldienst's list until this destination accepts or rejects it, so the listing finds
anything an announcement did not bring in.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

from adapters.fitconnect.source import FitConnectSource
from gateway.ports import InboundMessage, StateStore

log = logging.getLogger(__name__)

NAMESPACE = "fitconnect.announced"
TTL_SECONDS = 86_400.0  # the listing finds the submission anyway: an announcement is only a hint
PER_POLL = 100
CLAIMS = "fitconnect.fetching"
CLAIM_SECONDS = 300.0  # longer than fetching a large submission takes; a lapsed claim costs a second fetch only


@dataclass
class Announcements:
    state: StateStore

    def record(self, destination_id: str, submission_id: str, case_id: str) -> None:
        """Durable when it returns (a committed row): only then may the callback answer 2xx."""
        self.state.put(NAMESPACE, submission_id, {"destinationId": destination_id, "caseId": case_id},
                       ttl_seconds=TTL_SECONDS)

    def pending(self) -> list[tuple[str, str, str]]:
        """(destination id, submission id, case id) of up to :data:`PER_POLL` announcements."""
        entries = self.state.scan(NAMESPACE, "")[:PER_POLL]
        return [(str(value.get("destinationId", "")), key, str(value.get("caseId", ""))) for key, value in entries]

    def claim(self, submission_id: str) -> bool:
        """Whether this worker may fetch the submission now: one worker fetches an announced
        submission, the others pass it by (the claim lapses should that worker die meanwhile)."""
        return self.state.add(CLAIMS, submission_id, {}, ttl_seconds=CLAIM_SECONDS)

    def release(self, submission_id: str) -> None:
        self.state.delete(CLAIMS, submission_id)

    def any_pending(self) -> bool:
        return bool(self.state.scan(NAMESPACE, ""))

    def done(self, submission_id: str) -> None:
        # the claim stays until it lapses: another worker may still hold this announcement in its list
        self.state.delete(NAMESPACE, submission_id)


@dataclass
class AnnouncedFirst:
    """The inbound source the worker polls: announced submissions, then the source's listing. The
    worker fetches what was announced in its next round (``poll_announced``), the listing at the
    poll interval."""

    source: FitConnectSource
    announcements: Announcements
    name: str = "fitconnect"

    def announced(self) -> bool:
        return self.announcements.any_pending()

    def poll(self) -> Iterator[InboundMessage]:
        yield from self.poll_announced()
        yield from self.source.poll()

    def poll_announced(self) -> Iterator[InboundMessage]:
        for destination_id, submission_id, case_id in self.announcements.pending():
            if not self.source.seen(submission_id):
                if not self.announcements.claim(submission_id):
                    continue  # another worker fetches it; it marks the announcement done
                try:
                    message = self.source.fetch(destination_id, submission_id, case_id)
                except Exception as exc:  # kept for the next poll; the others still go ahead
                    self.announcements.release(submission_id)
                    log.warning("fetching an announced FIT-Connect submission failed: %s", type(exc).__name__)
                    continue
                if message is not None:
                    try:
                        yield message  # the worker resumes this generator once the core has received it
                    except GeneratorExit:  # receive failed: this worker tries again at its next poll
                        self.announcements.release(submission_id)
                        raise
                    self.source.remember(submission_id)
            self.announcements.done(submission_id)

"""Send one FIT-Connect resource (a submission, a reply) at most once per key, across processes.

The steps are the Submission API's: *create* (the Zustelldienst assigns the ids), *send*
(encrypt, upload the attachments, submit). The ids are recorded in the gateway database
(``ctx.state``) right after the create call and before anything is uploaded; the first process
to record wins (``StateStore.add``) and one that created concurrently leaves its own resource
incomplete -- never delivered -- and continues the recorded one. A record not yet known to be
submitted is continued only after a look at the remote event log (submitted already: only
reported). Two processes continuing at once: the Zustelldienst refuses the second upload or
submit (409), which then finds the resource submitted in the event log.

Residual window (the Submission API allows no better): a crash between the create call and the
record leaves one incomplete resource behind, which the Zustelldienst deletes after its
retention period; the retry creates a new one. A sender cannot list its incomplete resources,
and the ids are the Zustelldienst's, so the orphan cannot be found again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from adapters.fitconnect.http import RemoteRefused
from gateway.errors import PermanentError
from gateway.ports import StateStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Created:
    """The ids of a created resource: its own (submission or reply id) and its case's."""

    submission_id: str
    case_id: str


class Steps(Protocol):
    def check(self) -> None:
        """Refuse before anything remote exists (an unusable key, a destination that cannot take it)."""

    def create(self) -> Created: ...

    def send(self, created: Created) -> None:
        """Encrypt, upload the attachments, submit."""

    def submitted(self, created: Created) -> bool:
        """Whether the event log shows the resource submitted (whatever happened to it since)."""


class Once:
    """``run(key, steps)`` returns the one resource sent for ``key``.

    ``mark_submitted``: also record that it was submitted (one more durable write, saves the
    event-log look on a repeated call). A channel whose caller records the outcome itself (the
    core's delivery rows) leaves it off.
    """

    def __init__(self, state: StateStore, namespace: str, mark_submitted: bool = True) -> None:
        self.state, self.namespace, self.mark_submitted = state, namespace, mark_submitted

    def recorded(self, key: str) -> dict[str, object] | None:
        return self.state.get(self.namespace, key)

    def run(self, key: str, steps: Steps, extra: dict[str, object] | None = None) -> Created:
        extra = extra or {}
        known = self.recorded(key)
        if known is not None and known.get("submitted"):
            return created_from(known)
        if known is None:
            steps.check()
            fresh = steps.create()
            created = self._record(key, fresh, extra)
            continuing = created != fresh
        else:
            created, continuing = created_from(known), True
        if continuing and steps.submitted(created):
            return self._done(key, created, extra)  # submitted before a crash, or by another process
        try:
            steps.send(created)
        except RemoteRefused:
            if not continuing or not steps.submitted(created):
                raise
            # another process submitted it meanwhile (the Zustelldienst refuses a second submit)
        return self._done(key, created, extra)

    def _record(self, key: str, created: Created, extra: dict[str, object]) -> Created:
        """Record a created resource; first writer wins. Returns the resource to continue."""
        record: dict[str, object] = {"submissionId": created.submission_id, "caseId": created.case_id,
                                     **extra, "submitted": False}
        if self.state.add(self.namespace, key, record):
            return created
        winner = self.recorded(key)
        if winner is None:  # pragma: no cover - records never expire
            raise PermanentError("FIT-Connect sender state vanished")
        log.warning("FIT-Connect resource created twice concurrently; %s stays incomplete", created.submission_id)
        return created_from(winner)

    def _done(self, key: str, created: Created, extra: dict[str, object]) -> Created:
        if self.mark_submitted:
            self.state.put(self.namespace, key, {"submissionId": created.submission_id, "caseId": created.case_id,
                                                 **extra, "submitted": True})
        return created


def created_from(record: dict[str, object]) -> Created:
    return Created(str(record["submissionId"]), str(record["caseId"]))

"""Pull side of the FIT-Connect channel: list, fetch, and hand over raw submissions.

A submission stays in the Zustelldienst's list until this destination accepts or rejects
it, so polling sees the same ids until the outbox has sent the decision. Ids handed over in
this process are remembered (bounded) so attachments are not downloaded again and again;
after a restart they are fetched once more and the core's inbox drops the duplicate.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator

import orjson

from adapters.fitconnect.api import RemoteNotFound, RemoteRefused, SubmissionApi
from adapters.fitconnect.bundle import MEDIA_TYPE, Bundle
from adapters.fitconnect.events import is_uuid
from adapters.fitconnect.options import FitConnectOptions
from gateway.ports import InboundMessage

log = logging.getLogger(__name__)
SEEN_CAPACITY = 10_000


class FitConnectSource:
    name = "fitconnect"

    def __init__(self, api: SubmissionApi, options: FitConnectOptions,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.api, self.options, self.clock, self.monotonic = api, options, clock, monotonic
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._last_poll = float("-inf")

    def poll(self) -> Iterator[InboundMessage]:
        if self.monotonic() - self._last_poll < self.options.poll_interval_seconds:
            return
        self._last_poll = self.monotonic()
        for destination in self.options.destinations:
            for item in list(self.api.list_submissions(destination.id, self.options.page_limit)):
                submission_id = str(item.get("submissionId"))
                if not is_uuid(submission_id):  # it becomes part of API paths
                    log.warning("the submission list holds an id that is not a UUID; skipped")
                    continue
                if self.seen(submission_id):
                    continue
                message = self.fetch(destination.id, submission_id, str(item.get("caseId", "")))
                if message is not None:
                    yield message
                    self.remember(submission_id)  # only once the core has taken it

    def seen(self, submission_id: str) -> bool:
        with self._lock:
            return submission_id in self._seen

    def remember(self, submission_id: str) -> None:
        with self._lock:
            self._seen[submission_id] = None
            while len(self._seen) > SEEN_CAPACITY:
                self._seen.popitem(last=False)

    def fetch(self, destination_id: str, submission_id: str, case_id: str = "") -> InboundMessage | None:
        """Fetch a submission with its attachments and event log; None if it is gone.

        A malformed or oversized submission document is still handed over (verification
        rejects it), so it cannot block the poll loop forever.
        """
        limits = self.options.limits
        try:
            raw = self.api.get_submission(submission_id, limits.max_data_bytes + limits.max_metadata_bytes)
        except RemoteNotFound:
            return None  # deleted, or decided meanwhile
        except RemoteRefused:
            raw = b""  # too large to keep: verify rejects the empty document
        try:
            submission = orjson.loads(raw)
        except orjson.JSONDecodeError:
            submission = {}
        if not isinstance(submission, dict):
            submission = {}
        if submission.get("destinationId", destination_id) != destination_id:
            log.warning("submission %s is listed for another destination; skipped", submission_id)
            return None
        case_id = str(submission.get("caseId") or case_id)
        if not is_uuid(case_id):
            log.warning("submission %s has no valid case id; left for the next poll", submission_id)
            return None
        attachments: dict[str, bytes | None] = {}
        announced = submission.get("attachments")
        for attachment_id in (announced if isinstance(announced, list) else [])[: limits.max_attachments]:
            if not is_uuid(str(attachment_id)):
                attachments[str(attachment_id)] = None  # not fetched (API path); verify rejects it
                continue
            try:
                attachments[str(attachment_id)] = self.api.get_attachment(submission_id, str(attachment_id),
                                                                          limits.max_attachment_bytes)
            except (RemoteNotFound, RemoteRefused):
                attachments[str(attachment_id)] = None  # verify rejects it as a missing attachment
        events = self.api.get_events_raw(case_id)
        now = self.clock()
        bundle = Bundle(destination_id=destination_id, submission_id=submission_id, case_id=case_id,
                        submission_raw=raw, attachments=attachments, events_raw=events,
                        fetched_at=now.isoformat())
        tenant = self.options.destination(destination_id)
        return InboundMessage(
            channel="fitconnect", source_id=submission_id, payload=bundle.to_bytes(), media_type=MEDIA_TYPE,
            received_at=now, tenant_ars=tenant.tenant_ars if tenant else None,
            references={"caseId": case_id, "destinationId": destination_id},
        )

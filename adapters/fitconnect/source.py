"""Pull side of the FIT-Connect channel: list, fetch, and hand over raw submissions.

A submission stays in the Zustelldienst's list until this destination accepts or rejects
it, so polling sees the same ids until the outbox has sent the decision. Ids handed over in
this process are remembered (bounded) so attachments are not downloaded again and again;
after a restart they are fetched once more and the core's inbox drops the duplicate.

Fetching writes every part to the blob store as it streams in (:mod:`.parts`) -- the
submission document, each attachment or fragment, the event log -- and hands the core a
small manifest as the raw original. Each destination is fetched with its own API generation.
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
from adapters.fitconnect.events import is_uuid
from adapters.fitconnect.options import DestinationOptions, FitConnectOptions
from adapters.fitconnect.parts import JOSE, MEDIA_TYPE, Manifest, Part, write_part
from gateway.ports import BlobStore, InboundMessage

log = logging.getLogger(__name__)
SEEN_CAPACITY = 10_000


class FitConnectSource:
    name = "fitconnect"

    def __init__(self, api: SubmissionApi, options: FitConnectOptions, blobs: BlobStore,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.api, self.options, self.blobs, self.clock, self.monotonic = api, options, blobs, clock, monotonic
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._last_poll = float("-inf")

    @property
    def poll_interval_seconds(self) -> float:
        """The worker polls no more often (and so each poll asks the server)."""
        return float(self.options.poll_interval_seconds)

    def poll(self) -> Iterator[InboundMessage]:
        if self.monotonic() - self._last_poll < self.options.poll_interval_seconds:
            return
        self._last_poll = self.monotonic()
        for destination in self.options.destinations:
            api = self.api.with_version(destination.api_version)
            for item in list(api.list_submissions(destination.id, self.options.page_limit)):
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

        A malformed or oversized part is still handed over (verification rejects it), so it
        cannot block the poll loop forever.
        """
        destination = self.options.destination(destination_id)
        if destination is None:
            return None
        api = self.api.with_version(destination.api_version)
        limits = self.options.limits
        parts: list[Part] = []
        try:
            raw = api.get_submission(submission_id, limits.max_data_bytes + limits.max_metadata_bytes)
        except RemoteNotFound:
            return None  # deleted, or decided meanwhile
        except RemoteRefused:
            raw = None  # too large to keep: verify rejects the missing document
        submission = _object(raw)
        if submission.get("destinationId", destination_id) != destination_id:
            log.warning("submission %s is listed for another destination; skipped", submission_id)
            return None
        case_id = str(submission.get("caseId") or case_id)
        if not is_uuid(case_id):
            log.warning("submission %s has no valid case id; left for the next poll", submission_id)
            return None
        if raw is None:
            parts.append(Part(role="submission", missing="too-large"))
        else:
            stored = write_part(self.blobs, [raw])
            parts.append(Part(role="submission", blob=stored.blob, size=stored.size))
        parts.extend(self._attachments(api, destination, submission_id, submission.get("attachments")))
        events = write_part(self.blobs, [api.get_events_raw(case_id, submission_id)])
        parts.append(Part(role="eventLog", blob=events.blob, size=events.size))
        now = self.clock()
        manifest = Manifest(api_version=destination.api_version, destination_id=destination_id,
                            submission_id=submission_id, case_id=case_id, fetched_at=now.isoformat(), parts=parts)
        return InboundMessage(
            channel="fitconnect", source_id=submission_id, payload=manifest.to_bytes(), media_type=MEDIA_TYPE,
            received_at=now, tenant_ars=destination.tenant_ars,
            references={"caseId": case_id, "destinationId": destination_id, "apiVersion": destination.api_version},
            parts=tuple(part.blob for part in parts if part.blob is not None),
        )

    def _attachments(self, api: SubmissionApi, destination: DestinationOptions, submission_id: str,
                     announced: object) -> Iterator[Part]:
        """Every announced attachment (or fragment), streamed into the blob store one by one."""
        limits, budget = self.options.limits, destination.limits.max_total_bytes
        ids = [str(a) for a in announced] if isinstance(announced, list) else []
        for attachment_id in ids[: limits.max_attachments]:
            if not is_uuid(attachment_id):
                yield Part(role="attachment", id=attachment_id, missing="not-a-uuid")  # API path: not fetched
                continue
            cap = min(limits.max_attachment_bytes, max(budget, 0))
            try:
                stored = api.download_attachment(submission_id, attachment_id, cap,
                                                 lambda chunks: write_part(self.blobs, chunks, jwe=True))
            except RemoteNotFound:
                yield Part(role="attachment", id=attachment_id, missing="not-found")
                continue
            except RemoteRefused:
                over_total = cap < limits.max_attachment_bytes
                yield Part(role="attachment", id=attachment_id, missing="over-total" if over_total else "too-large")
                continue
            budget -= stored.size
            yield Part(role="attachment", id=attachment_id, blob=stored.blob, size=stored.size,
                       media_type=JOSE, tag=stored.tag)


def _object(raw: bytes | None) -> dict[str, object]:
    try:
        value = orjson.loads(raw) if raw is not None else {}
    except orjson.JSONDecodeError:
        value = {}
    return value if isinstance(value, dict) else {}

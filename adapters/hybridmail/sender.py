"""The hybrid-mail reply channel's verbs: send letters (one or a bulk) and follow their status.

Exactly once across crashes, as far as E-POST allows: every letter carries the gateway's reply id
in ``custom1`` (and a bulk its ``batchID``); before uploading again after an interrupted attempt,
``send(check_existing=True)`` / ``send_many(batch_id=...)`` look the letters up and upload only
those E-POST does not have. E-POST's duplicate failsafe (E324, same PDF within 60 minutes) is the
second net: an E324 answer is resolved by the same lookup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from adapters.hybridmail.address import PostalAddress
from adapters.hybridmail.client import EPostClient
from adapters.hybridmail.errors import InvalidDocument, LetterRejected
from adapters.hybridmail.options import EPostOptions
from adapters.hybridmail.prepare import PreparedLetter, prepare_letter
from adapters.hybridmail.status import DeliveryState, delivery_state, is_final
from adapters.hybridmail.wire import LetterMetadata, LetterStatus, LetterUpload
from gateway.errors import GatewayError

_REPLY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")


@dataclass(frozen=True)
class LetterJob:
    reply_id: str  # the gateway's id of the reply: file name, custom1
    reference: str  # the case reference: custom2 and the cover page
    title: str  # "Bescheid", "Mitteilung", ... (cover page, below the fold)
    document: Path  # the PDF, read from disk as it is streamed
    recipient: PostalAddress

    def __post_init__(self) -> None:
        if not _REPLY_ID.match(self.reply_id):
            raise InvalidDocument("the reply id must be 1-64 letters, digits or '-'")

    @property
    def file_name(self) -> str:
        return f"rg-{self.reply_id}.pdf"


@dataclass(frozen=True)
class LetterDelivery:
    reply_id: str
    letter_id: int
    state: DeliveryState
    status_id: int | None  # E-POST's statusID when known (None right after upload)
    final: bool
    cover_page: bool | None = None  # None when the letter was found again rather than uploaded now
    error_codes: tuple[str, ...] = ()  # E-POST's codes for status 99 (no free text)


@dataclass
class BulkResult:
    delivered: dict[str, LetterDelivery] = field(default_factory=dict)  # reply id -> delivery
    failed: dict[str, GatewayError] = field(default_factory=dict)  # reply id -> why (transient or permanent)


def delivery_from_status(status: LetterStatus, reply_id: str | None = None) -> LetterDelivery:
    codes = tuple(e.code for e in status.error_list if e.code and e.code.isalnum() and len(e.code) <= 16)
    return LetterDelivery(reply_id=reply_id or status.custom1 or "", letter_id=status.letter_id,
                          state=delivery_state(status) or DeliveryState.SENT, status_id=status.status_id,
                          final=is_final(status), error_codes=codes)


class HybridMailSender:
    def __init__(self, options: EPostOptions, work_dir: Path, client: EPostClient | None = None,
                 base_dir: Path | None = None) -> None:
        self.options = options
        self.work_dir = work_dir
        self.client = client or EPostClient(options, base_dir=base_dir)

    def prepare(self, job: LetterJob, on: date | None = None) -> PreparedLetter:
        return prepare_letter(job.document, job.recipient, name=f"rg-{job.reply_id}", title=job.title,
                              reference=job.reference, work_dir=self.work_dir, options=self.options, on=on)

    def _upload_item(self, job: LetterJob, prepared: PreparedLetter, batch_id: int | None) -> LetterUpload:
        opts = self.options
        metadata = LetterMetadata.for_recipient(
            job.recipient, opts.sender, fileName=job.file_name, isColor=opts.is_color, isDuplex=opts.is_duplex,
            coverLetter=opts.cover_letter_flag, testFlag=opts.test_flag, testEMail=opts.test_email,
            activateDuplicateFailsafe=opts.duplicate_failsafe, custom1=job.reply_id, custom2=job.reference,
            batchID=batch_id, vendorSubID=opts.vendor_sub_id)
        return LetterUpload(metadata=metadata, pdf=prepared.path, size=prepared.size)

    def _existing(self, reply_id: str) -> LetterDelivery | None:
        found = [s for s in self.client.find_by_custom1(reply_id) if s.custom1 == reply_id]
        if not found:
            return None
        alive = [s for s in found if s.status_id != 99] or found
        return delivery_from_status(max(alive, key=lambda s: s.letter_id), reply_id)

    def send(self, job: LetterJob, *, check_existing: bool = True) -> LetterDelivery:
        """Prepares and uploads one letter; with ``check_existing`` (a retry) first asks E-POST."""
        if check_existing and (existing := self._existing(job.reply_id)) is not None:
            return existing
        prepared = self.prepare(job)
        try:
            [result] = self.client.upload([self._upload_item(job, prepared, None)])
        except LetterRejected as exc:
            if exc.extensions.get("epost_code") == "E324" and (existing := self._existing(job.reply_id)):
                return existing
            raise
        return LetterDelivery(job.reply_id, result.letter_id, DeliveryState.SENT, None, final=False,
                              cover_page=prepared.cover_page)

    def send_many(self, jobs: list[LetterJob], *, batch_id: int | None = None) -> BulkResult:
        """Bulk upload in as few requests as the limits allow. A job whose PDF or address is bad fails
        alone; a request E-POST refuses is split into single uploads to find the letter it means.
        With ``batch_id`` the letters are grouped, and a repeated call skips the ones E-POST has."""
        result = BulkResult()
        if batch_id is not None:
            wanted = {job.reply_id for job in jobs}
            for status in self.client.find_by_batch(batch_id):
                if status.custom1 in wanted and status.custom1 not in result.delivered:
                    result.delivered[status.custom1] = delivery_from_status(status)
        ready: list[tuple[LetterJob, PreparedLetter, LetterUpload]] = []
        for job in jobs:
            if job.reply_id in result.delivered:
                continue
            try:
                prepared = self.prepare(job)
                ready.append((job, prepared, self._upload_item(job, prepared, batch_id)))
            except GatewayError as exc:
                result.failed[job.reply_id] = exc
        by_name = {item.metadata.file_name: (job, prepared) for job, prepared, item in ready}
        stopped: GatewayError | None = None
        for batch in self.client.batches([item for _, _, item in ready]):
            if stopped is not None:  # E-POST is down or asked to wait: do not knock again in this call
                result.failed.update({by_name[i.metadata.file_name][0].reply_id: stopped for i in batch})
                continue
            stopped = self._upload_batch(batch, by_name, result)
        return result

    def _upload_batch(self, batch: list[LetterUpload], by_name: dict[str, tuple[LetterJob, PreparedLetter]],
                      result: BulkResult) -> GatewayError | None:
        """Uploads one request's letters; returns the transient error that should stop the bulk."""
        try:
            uploaded = self.client.upload(batch)
        except LetterRejected as exc:
            if len(batch) > 1:
                for item in batch:
                    if (stop := self._upload_batch([item], by_name, result)) is not None:
                        return stop
                return None
            job, _ = by_name[batch[0].metadata.file_name]
            existing = self._existing(job.reply_id) if exc.extensions.get("epost_code") == "E324" else None
            if existing is not None:
                result.delivered[job.reply_id] = existing
            else:
                result.failed[job.reply_id] = exc
            return None
        except GatewayError as exc:  # transient: every letter of this request is still to be sent
            for item in batch:
                result.failed[by_name[item.metadata.file_name][0].reply_id] = exc
            return exc
        for upload in uploaded:
            job, prepared = by_name[upload.file_name]
            result.delivered[job.reply_id] = LetterDelivery(job.reply_id, upload.letter_id, DeliveryState.SENT,
                                                            None, final=False, cover_page=prepared.cover_page)
        return None

    def follow(self, letter_ids: list[int]) -> list[LetterDelivery]:
        """Current states of uploaded letters (one StatusQuery)."""
        return [delivery_from_status(status) for status in self.client.status_query(letter_ids)]

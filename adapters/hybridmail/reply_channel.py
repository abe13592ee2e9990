"""The ``hybridmail`` reply channel of the core (gateway.ports.ReplyChannelAdapter): a reply as a
letter through E-POST, for an applicant with a postal address in the case.

``recipient`` is the applicant's address as E-POST's letter fields hold it (a PostalAddress in
JSON). ``deliver`` makes the letter PDF (the reply's documents, or its text set as a letter),
hands it to :class:`HybridMailSender` (which checks it and puts a cover page in front when page 1
cannot serve the window envelope) and reports "sent" with the letterID. ``follow`` reads the
letter's status; one StatusQuery serves every open letter this process knows (E-POST wants few
status requests), so following many letters costs one request per round.

Exactly once: the first attempt of a delivery is recorded in the gateway's state store before
the upload; any later attempt (after a crash or an error) first asks E-POST for a letter with
this delivery's id in ``custom1`` and uploads only if there is none."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import cast

from pydantic import ValidationError

from adapters.hybridmail.address import PostalAddress
from adapters.hybridmail.errors import InvalidAddress
from adapters.hybridmail.letter import join, render_text_letter
from adapters.hybridmail.sender import HybridMailSender, LetterDelivery, LetterJob
from gateway.case.model import Case, NaturalPerson
from gateway.ports import BlobStore, DeliveryReport, DeliveryState, OutgoingReply, StateStore

CHANNEL = "hybridmail"
STARTED = "hybridmail.replies"  # state namespace: deliveries whose upload was attempted
STARTED_TTL_SECONDS = 90 * 86400
TITLES = {"decision": "Bescheid", "request": "Nachforderung von Unterlagen", "notice": "Mitteilung",
          "status": "Statusmitteilung"}
MAX_KNOWN = 5000


def postal_address(case: Case) -> PostalAddress | None:
    """The applicant's postal address as a letter needs it, or None when the case has none usable."""
    party = case.applicant.party
    address = party.address
    if address is None or not (address.street and address.postal_code and address.city):
        return None
    if isinstance(party, NaturalPerson):
        lines = [" ".join(p for p in (party.title, party.given_names, party.family_name) if p)]
    else:
        lines = [party.name, *([f"z. Hd. {party.contact_person}"] if party.contact_person else [])]
    if address.addition:
        lines.append(address.addition)
    lines.append(" ".join(p for p in (address.street, address.house_number) if p))
    try:
        return PostalAddress(lines=tuple(lines[:5]), zip_code=address.postal_code, city=address.city,
                             country=None if address.country in ("", "DE") else address.country)
    except ValidationError:
        return None


@dataclass(frozen=True)
class _Known:
    delivery: LetterDelivery
    at: float


class HybridMailReplyChannel:
    name = CHANNEL

    def __init__(self, sender: HybridMailSender, state: StateStore, work_dir: Path) -> None:
        self.sender, self.state, self.work_dir = sender, state, work_dir
        self._known: dict[int, _Known] = {}
        self._lock = threading.Lock()
        # a letter's status is read again at most this often (E-POST answers 429 to eager polling)
        self.refresh_seconds = max(1.0, sender.options.min_status_interval_seconds)

    def recipient(self, case: Case) -> str | None:
        address = postal_address(case)
        return address.model_dump_json() if address is not None else None

    def _document(self, reply: OutgoingReply, blobs: BlobStore) -> Path:
        folder = self.work_dir / reply.delivery_id
        folder.mkdir(parents=True, exist_ok=True)
        if not reply.documents:
            options = self.sender.options
            return render_text_letter(title=reply.title, text=reply.text, reference=reply.case.reference,
                                      authority=options.authority_name, on=date.today(),
                                      max_pages=max(1, options.pdf.max_pages - 1), target=folder / "text.pdf")
        paths = []
        for number, document in enumerate(reply.documents):
            path = folder / f"document-{number}.pdf"
            with open(path, "wb") as fh:
                for chunk in blobs.open(document.storage_key):
                    fh.write(chunk)
            paths.append(path)
        return join(paths, folder / "joined.pdf", self.sender.options.pdf)

    def deliver(self, reply: OutgoingReply, blobs: BlobStore) -> DeliveryReport:
        try:
            recipient = PostalAddress.model_validate_json(reply.recipient)
        except ValidationError:
            raise InvalidAddress("the recorded recipient is not a postal address") from None
        first = self.state.add(STARTED, reply.delivery_id, {"reply": reply.reply_id}, ttl_seconds=STARTED_TTL_SECONDS)
        folder = self.work_dir / reply.delivery_id
        try:
            job = LetterJob(reply_id=reply.delivery_id, reference=reply.case.reference, title=TITLES[reply.kind],
                            document=self._document(reply, blobs), recipient=recipient)
            letter = self.sender.send(job, check_existing=not first)
        finally:
            for leftover in sorted(folder.glob("*"), reverse=True) if folder.exists() else []:
                leftover.unlink(missing_ok=True)
            if folder.exists():
                folder.rmdir()
        self._remember(letter, at=float("-inf"))  # known, but its status is still to be read
        return self._report(letter)

    def follow(self, reply: OutgoingReply, last: DeliveryReport) -> DeliveryReport:
        if not last.remote_id or not last.remote_id.isdigit():
            return last
        letter_id = int(last.remote_id)
        now = time.monotonic()
        with self._lock:
            known = self._known.get(letter_id)
            stale = known is None or now - known.at >= self.refresh_seconds
            wanted = [letter_id, *(i for i, k in self._known.items() if i != letter_id and not k.delivery.final)][:200]
        if stale:
            for delivery in self.sender.follow(wanted):
                self._remember(delivery, now)
        with self._lock:
            known = self._known.get(letter_id)
            if known is not None and known.delivery.final:
                del self._known[letter_id]  # reported once more, then forgotten
        return self._report(known.delivery) if known is not None else last

    def _remember(self, delivery: LetterDelivery, at: float | None = None) -> None:
        with self._lock:
            self._known[delivery.letter_id] = _Known(delivery, time.monotonic() if at is None else at)
            while len(self._known) > MAX_KNOWN:
                del self._known[next(iter(self._known))]

    @staticmethod
    def _report(letter: LetterDelivery) -> DeliveryReport:
        detail = f"E-POST letter {letter.letter_id}"
        if letter.status_id is not None:
            detail += f", status {letter.status_id}"
        if letter.cover_page:
            detail += ", with a generated cover page"
        if letter.error_codes:
            detail += f", errors {' '.join(letter.error_codes)}"
        state = cast(DeliveryState, letter.state.value if letter.state.value != "queued" else "sent")
        return DeliveryReport(state=state, remote_id=str(letter.letter_id), detail=detail, final=letter.final)

"""The hybrid-mail reply channel: the applicant's postal address, the letter PDF (documents
joined, or the text set as a letter), a lookup before any repeated upload, batched follow-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from adapters.hybridmail import testing
from adapters.hybridmail.address import PostalAddress
from adapters.hybridmail.letter import join, render_text_letter
from adapters.hybridmail.options import EPostOptions
from adapters.hybridmail.prepare import prepare_letter
from adapters.hybridmail.reply_channel import HybridMailReplyChannel, postal_address
from adapters.hybridmail.sender import LetterDelivery, LetterJob
from adapters.hybridmail.status import DeliveryState
from gateway.case.model import Address, Applicant, Case, NaturalPerson, Organisation
from gateway.ports import DeliveryReport, OutgoingReply, ReplyDocument
from gateway.store.blobs import FilesystemBlobStore
from tests.support.cases import NOW, a_case

STREET = Address(street="Lindenstraße", house_number="12a", postal_code="39517", city="Tangerhütte")


def person_case(address: Address | None = STREET, **person: Any) -> Case:
    return a_case(applicant=Applicant(party=NaturalPerson(given_names="Erika", family_name="Mustermann",
                                                          address=address, **person)))


def test_the_postal_address_is_taken_from_the_applicant() -> None:
    assert postal_address(person_case(title="Dr.")) == PostalAddress(
        lines=("Dr. Erika Mustermann", "Lindenstraße 12a"), zip_code="39517", city="Tangerhütte")
    with_addition = person_case(Address(street="Am Markt", house_number="3", addition="Hinterhaus",
                                        postal_code="39517", city="Tangerhütte"))
    assert postal_address(with_addition).lines == ("Erika Mustermann", "Hinterhaus", "Am Markt 3")  # type: ignore
    firm = a_case(applicant=Applicant(party=Organisation(name="Muster Holz GmbH", contact_person="Tom Wagner",
                                                         address=STREET.model_copy(update={"country": "AT"}))))
    assert postal_address(firm) == PostalAddress(lines=("Muster Holz GmbH", "z. Hd. Tom Wagner", "Lindenstraße 12a"),
                                                 zip_code="39517", city="Tangerhütte", country="AT")
    assert postal_address(person_case(None)) is None
    assert postal_address(person_case(Address(street="Lindenstraße", city="Tangerhütte"))) is None  # no ZIP


def test_a_text_letter_gets_a_cover_page_that_the_letter_shop_accepts(tmp_path: Path) -> None:
    options = testing.options("http://127.0.0.1:1")
    letter = render_text_letter(title="Mitteilung über Ihre Hundesteuer", text="Sehr geehrte Frau Mustermann,\n\n"
                                + "wir teilen Ihnen mit, dass ... " * 150, reference="TGH-2026-000001",
                                authority="Stadt Tangerhütte", on=NOW.date(), max_pages=10, target=tmp_path / "t.pdf")
    assert len(PdfReader(letter).pages) >= 2
    prepared = prepare_letter(letter, testing.ERIKA, name="r1", title="Mitteilung", reference="TGH-2026-000001",
                              work_dir=tmp_path, options=options)
    assert prepared.cover_page and prepared.pages == len(PdfReader(letter).pages) + 1


def test_documents_are_joined_in_order(tmp_path: Path) -> None:
    first = testing.letter_pdf(tmp_path / "a.pdf", pages=2)
    second = testing.letter_pdf(tmp_path / "b.pdf", pages=3)
    joined = join([first, second], tmp_path / "joined.pdf", testing.options("http://127.0.0.1:1").pdf)
    assert len(PdfReader(joined).pages) == 5
    assert join([first], tmp_path / "single.pdf", testing.options("http://127.0.0.1:1").pdf) == first


@dataclass
class Sender:
    options: EPostOptions
    uploads: list[tuple[LetterJob, bool, int]] = field(default_factory=list)  # job, check_existing, pages
    queries: list[list[int]] = field(default_factory=list)
    status: dict[int, int] = field(default_factory=dict)

    def send(self, job: LetterJob, *, check_existing: bool = True) -> LetterDelivery:
        self.uploads.append((job, check_existing, len(PdfReader(job.document).pages)))
        letter_id = 700 + len(self.uploads)
        self.status[letter_id] = 1
        return LetterDelivery(job.reply_id, letter_id, DeliveryState.SENT, None, final=False, cover_page=True)

    def follow(self, letter_ids: list[int]) -> list[LetterDelivery]:
        self.queries.append(list(letter_ids))
        states = {1: DeliveryState.SENT, 2: DeliveryState.ACCEPTED, 4: DeliveryState.DELIVERED,
                  99: DeliveryState.FAILED}
        return [LetterDelivery("", i, states[self.status[i]], self.status[i], final=self.status[i] in (4, 99),
                               error_codes=("E950",) if self.status[i] == 99 else ()) for i in letter_ids]


class State:
    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], dict[str, object]] = {}

    def add(self, namespace: str, key: str, value: dict[str, object], ttl_seconds: float | None = None) -> bool:
        if (namespace, key) in self.entries:
            return False
        self.entries[(namespace, key)] = value
        return True


@pytest.fixture
def rig(tmp_path: Path) -> tuple[HybridMailReplyChannel, Sender, FilesystemBlobStore]:
    sender = Sender(testing.options("http://127.0.0.1:1"))
    channel = HybridMailReplyChannel(sender, State(), tmp_path / "work")  # type: ignore[arg-type]
    channel.refresh_seconds = 0
    return channel, sender, FilesystemBlobStore(tmp_path / "blobs")


def reply(case: Case, recipient: str, blobs: FilesystemBlobStore, tmp_path: Path, documents: int,
          delivery_id: str = "d-1") -> OutgoingReply:
    docs = []
    for number in range(documents):
        content = testing.letter_pdf(tmp_path / f"doc{number}.pdf", pages=1).read_bytes()
        docs.append(ReplyDocument(f"d{number}", f"D{number}.pdf", "application/pdf", len(content), "0" * 128,
                                  blobs.put(content)))
    return OutgoingReply(reply_id="r-1", delivery_id=delivery_id, kind="decision", title="Bescheid", text="Text",
                         documents=tuple(docs), case=case, recipient=recipient)


def test_a_repeated_attempt_asks_epost_first_and_nothing_is_left_on_disk(
        rig: tuple[HybridMailReplyChannel, Sender, FilesystemBlobStore], tmp_path: Path) -> None:
    channel, sender, blobs = rig
    case = person_case()
    recipient = channel.recipient(case)
    assert recipient is not None
    outgoing = reply(case, recipient, blobs, tmp_path, documents=2)
    report = channel.deliver(outgoing, blobs)
    channel.deliver(outgoing, blobs)  # again, e.g. after a crash before the gateway recorded it
    assert [(job.reply_id, check, pages) for job, check, pages in sender.uploads] == [("d-1", False, 2),
                                                                                     ("d-1", True, 2)]
    assert sender.uploads[0][0].recipient == postal_address(case)
    assert (report.state, report.remote_id) == ("sent", "701")
    assert list((tmp_path / "work").iterdir()) == []


def test_a_reply_without_documents_goes_as_its_text(rig: tuple[HybridMailReplyChannel, Sender, FilesystemBlobStore],
                                                    tmp_path: Path) -> None:
    channel, sender, blobs = rig
    case = person_case()
    channel.deliver(reply(case, channel.recipient(case) or "", blobs, tmp_path, documents=0), blobs)
    assert sender.uploads[0][2] == 1


def test_one_status_query_serves_every_open_letter_and_final_states_end_it(
        rig: tuple[HybridMailReplyChannel, Sender, FilesystemBlobStore], tmp_path: Path) -> None:
    channel, sender, blobs = rig
    case = person_case()
    recipient = channel.recipient(case) or ""
    first = channel.deliver(reply(case, recipient, blobs, tmp_path, 1, "d-1"), blobs)
    second = channel.deliver(reply(case, recipient, blobs, tmp_path, 1, "d-2"), blobs)
    sender.status.update({701: 4, 702: 99})
    outgoing = reply(case, recipient, blobs, tmp_path, 1, "d-1")
    channel.refresh_seconds = 60
    done = channel.follow(outgoing, first)
    failed = channel.follow(outgoing, second)
    assert sender.queries == [[701, 702]]  # the second follow-up came from the first query
    assert (done.state, done.final, failed.state, failed.final) == ("delivered", True, "failed", True)
    assert failed.detail is not None and "E950" in failed.detail
    assert channel.follow(outgoing, DeliveryReport("sent")) == DeliveryReport("sent")  # nothing to look up

"""Letters through the E-POST sandbox over real loopback: PDF and address checks on both sides,
cover pages, status progression, bulk sends, exactly-once after an interrupted bulk."""

from __future__ import annotations

import base64
import time
from io import BytesIO
from pathlib import Path

import httpx
import pytest
from pypdf import PdfReader

from adapters.hybridmail import testing
from adapters.hybridmail.errors import AddressMismatch, InvalidDocument, LetterRejected
from adapters.hybridmail.sender import LetterJob
from adapters.hybridmail.status import DeliveryState
from adapters.hybridmail.wire import LetterMetadata, LetterUpload
from tests.integration.hybridmail.conftest import Shop

ERIKA_LINES = testing.ERIKA.printed_lines()


def job(shop: Shop, reply_id: str, document: Path, reference: str = "TGH-2026-000123") -> LetterJob:
    return LetterJob(reply_id, reference, "Bescheid", document, testing.ERIKA)


def wait_for(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def test_a_pdf_with_the_address_in_the_window_is_accepted_and_posted(shop: Shop) -> None:
    sender = shop.sender()
    delivery = sender.send(job(shop, "r-1", testing.letter_pdf(shop.tmp / "d.pdf", ERIKA_LINES)))
    assert delivery.state == DeliveryState.SENT and delivery.cover_page is False
    [letter] = shop.state.letters.values()
    assert letter.fields["custom1"] == "r-1" and letter.fields["fileName"] == "rg-r-1.pdf" and letter.pages == 2
    seen: list[int] = []

    def advanced() -> bool:
        [state] = sender.follow([delivery.letter_id])
        if not seen or seen[-1] != state.status_id:
            seen.append(state.status_id or 0)
        return state.final

    wait_for(advanced)
    assert seen[0] in (1, 2) and seen[-1] == 4 and seen == sorted(seen)
    assert sender.follow([delivery.letter_id])[0].state == DeliveryState.DELIVERED


def test_with_the_test_flag_the_letter_stops_at_processed(shop: Shop) -> None:
    sender = shop.sender(test_flag=True)
    delivery = sender.send(job(shop, "r-t", testing.letter_pdf(shop.tmp / "d.pdf", ERIKA_LINES)))
    wait_for(lambda: sender.follow([delivery.letter_id])[0].final)
    time.sleep(1.0)
    [state] = sender.follow([delivery.letter_id])
    assert (state.status_id, state.state) == (2, DeliveryState.ACCEPTED)


def test_without_an_address_a_cover_page_is_generated_and_accepted(shop: Shop) -> None:
    delivery = shop.sender().send(job(shop, "r-2", testing.letter_pdf(shop.tmp / "d.pdf", pages=2)))
    assert delivery.cover_page is True
    pdf = httpx.get(f"{shop.url}/sandbox/letters/{delivery.letter_id}.pdf", timeout=5).content
    reader = PdfReader(BytesIO(pdf))
    assert len(reader.pages) == 3
    first = reader.pages[0].extract_text()
    assert "Erika Mustermann" in first and "TGH-2026-000123" in first


def test_a_non_pdf_is_refused_before_upload(shop: Shop) -> None:
    document = shop.tmp / "d.pdf"
    document.write_bytes(b"<html>not a pdf</html>")
    with pytest.raises(InvalidDocument, match="not a PDF"):
        shop.sender().send(job(shop, "r-3", document))
    assert shop.state.letters == {}


def test_someone_elses_address_is_refused_before_upload(shop: Shop) -> None:
    with pytest.raises(AddressMismatch):
        shop.sender().send(job(shop, "r-4", testing.letter_pdf(shop.tmp / "d.pdf", testing.MAX.printed_lines())))
    assert shop.state.letters == {}


def raw_upload(shop: Shop, letter: dict[str, object]) -> httpx.Response:
    token = httpx.post(shop.url + "/api/Login", json={
        "vendorID": "rathaus-gateway-demo", "ekp": "5012345678", "secret": "sandbox-epost-secret-0123456789",
        "password": "sandbox-epost-password-0123456789"}, timeout=5).json()["token"]
    return httpx.post(shop.url + "/api/Letter", json=[letter], headers={"Authorization": f"Bearer {token}"},
                      timeout=10)


def letter_fields(pdf: bytes, **changes: object) -> dict[str, object]:
    return {"fileName": "rg-raw.pdf", "data": base64.b64encode(pdf).decode(), "addressLine1": "Erika Mustermann",
            "addressLine2": "Heidestraße 17", "zipCode": "39517", "city": "Tangerhütte", **changes}


@pytest.mark.parametrize(("changes", "code"), [
    ({"data": base64.b64encode(b"GIF89a").decode()}, "E911"),
    ({"data": "%%% not base64"}, "E910"),
    ({"city": "Magdeburg"}, "E921"),
    ({"addressLine1": "Max Mustermann"}, "E921"),
    ({"zipCode": None}, "E901"),
    ({"fileName": "a b"}, "E902"),
])
def test_the_sandbox_refuses_bad_letters_in_the_apis_error_shape(shop: Shop, changes: dict[str, object],
                                                                  code: str) -> None:
    pdf = testing.letter_pdf(shop.tmp / "d.pdf", ERIKA_LINES).read_bytes()
    response = raw_upload(shop, letter_fields(pdf, **changes))
    assert response.status_code == 400
    body = response.json()
    assert body["level"] == "Error" and body["code"] == code and body["description"]
    assert shop.state.letters == {}


def test_the_sandbox_refuses_a_pdf_without_address_and_one_not_a4(shop: Shop) -> None:
    bare = testing.letter_pdf(shop.tmp / "bare.pdf").read_bytes()
    assert raw_upload(shop, letter_fields(bare)).json()["code"] == "E920"
    landscape = testing.landscape_pdf(shop.tmp / "l.pdf").read_bytes()
    assert raw_upload(shop, letter_fields(landscape)).json()["code"] == "E913"


def test_a_mismatch_only_the_api_sees_is_a_permanent_rejection(shop: Shop) -> None:
    """Bypassing the client-side check: the fields say Magdeburg, the PDF says Tangerhütte."""
    pdf = testing.letter_pdf(shop.tmp / "d.pdf", ERIKA_LINES)
    wrong = testing.ERIKA.model_copy(update={"city": "Magdeburg"})
    metadata = LetterMetadata.for_recipient(wrong, testing.options(shop.url).sender, fileName="rg-x.pdf")
    with pytest.raises(LetterRejected, match=r"HTTP 400 \(E921\)"):
        shop.sender().client.upload([LetterUpload(metadata=metadata, pdf=pdf, size=pdf.stat().st_size)])


def test_a_bulk_is_sent_in_batches_and_a_bad_letter_fails_alone(shop: Shop) -> None:
    sender = shop.sender(max_letters_per_request=2)
    jobs = [job(shop, f"b-{n}", testing.letter_pdf(shop.tmp / f"{n}.pdf", pages=1), f"TGH-2026-00000{n}")
            for n in range(5)]
    not_pdf = shop.tmp / "bad.pdf"
    not_pdf.write_bytes(b"nope")
    jobs.append(job(shop, "b-bad", not_pdf))
    result = sender.send_many(jobs, batch_id=41)
    assert sorted(result.delivered) == [f"b-{n}" for n in range(5)]
    assert list(result.failed) == ["b-bad"] and isinstance(result.failed["b-bad"], InvalidDocument)
    assert len(shop.state.letters) == 5
    assert {x.fields["batchID"] for x in shop.state.letters.values()} == {41}


def test_a_rejected_request_is_split_to_find_the_letter_it_means(shop: Shop) -> None:
    sender = shop.sender(max_letters_per_request=10)
    jobs = [job(shop, f"s-{n}", testing.letter_pdf(shop.tmp / f"{n}.pdf", ERIKA_LINES, pages=n + 1))
            for n in range(3)]
    # Another document went out under s-1 before: E-POST refuses the file name again (not a duplicate PDF).
    first = sender.send(job(shop, "s-1", testing.letter_pdf(shop.tmp / "other.pdf", ERIKA_LINES, pages=7)))
    result = sender.send_many(jobs)
    assert sorted(result.delivered) == ["s-0", "s-2"]
    assert isinstance(result.failed["s-1"], LetterRejected)
    assert first.letter_id in shop.state.letters and len(shop.state.letters) == 3


def test_an_interrupted_bulk_is_completed_without_duplicates(shop: Shop) -> None:
    sender = shop.sender(max_letters_per_request=2)
    jobs = [job(shop, f"c-{n}", testing.letter_pdf(shop.tmp / f"{n}.pdf", pages=1), f"TGH-2026-00000{n}")
            for n in range(5)]
    # The second request fails (E-POST down); the bulk stops knocking and reports the rest as transient.
    for status in (None, 503):  # a fault without status lets its request through: the first upload passes
        httpx.post(shop.url + "/sandbox/faults", json={"path": "/api/Letter", "method": "POST", "status": status},
                   timeout=5).raise_for_status()
    first = sender.send_many(jobs, batch_id=77)
    assert sorted(first.delivered) == ["c-0", "c-1"] and sorted(first.failed) == ["c-2", "c-3", "c-4"]
    assert len(shop.state.letters) == 2
    again = sender.send_many(jobs, batch_id=77)
    assert sorted(again.delivered) == [f"c-{n}" for n in range(5)] and again.failed == {}
    assert len(shop.state.letters) == 5
    assert again.delivered["c-0"].letter_id == first.delivered["c-0"].letter_id
    assert sorted(x.fields["custom1"] for x in shop.state.letters.values()) == [f"c-{n}" for n in range(5)]


def test_a_retry_of_one_letter_finds_it_instead_of_uploading_again(shop: Shop) -> None:
    sender = shop.sender()
    letter = job(shop, "r-9", testing.letter_pdf(shop.tmp / "d.pdf", ERIKA_LINES))
    first = sender.send(letter)
    again = sender.send(letter)
    assert again.letter_id == first.letter_id and again.cover_page is None
    # Without the lookup, E-POST's duplicate failsafe (E324) answers, and the lookup resolves it.
    assert sender.send(letter, check_existing=False).letter_id == first.letter_id
    assert len(shop.state.letters) == 1


def test_the_duplicate_failsafe_refuses_the_same_pdf_for_another_reply(shop: Shop) -> None:
    pdf = testing.letter_pdf(shop.tmp / "d.pdf", ERIKA_LINES)
    sender = shop.sender()
    sender.send(job(shop, "d-1", pdf))
    with pytest.raises(LetterRejected, match="E324"):
        sender.send(job(shop, "d-2", pdf))
    assert shop.sender(duplicate_failsafe=False).send(job(shop, "d-3", pdf)).letter_id


def test_the_letter_page_and_json_show_what_the_shop_got(shop: Shop) -> None:
    delivery = shop.sender().send(job(shop, "r-p", testing.letter_pdf(shop.tmp / "d.pdf", ERIKA_LINES)))
    page = httpx.get(shop.url + "/", timeout=5)
    assert page.status_code == 200 and "rg-r-p.pdf" in page.text and "Heidestraße 17" in page.text
    [listed] = httpx.get(shop.url + "/sandbox/letters", timeout=5).json()
    assert listed["letterID"] == delivery.letter_id and listed["address"]["city"] == "Tangerhütte"
    assert httpx.get(f"{shop.url}/sandbox/letters/{delivery.letter_id}.pdf", timeout=5).content.startswith(b"%PDF-")

"""PDF checks, the address field of page 1, the generated cover page and preparing a letter."""

from __future__ import annotations

from datetime import date
from io import BytesIO
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter

from adapters.hybridmail import testing
from adapters.hybridmail.address import PostalAddress
from adapters.hybridmail.addresszone import Verdict, judge, page_lines, read_zone
from adapters.hybridmail.coverpage import render_cover_page
from adapters.hybridmail.errors import AddressMismatch, InvalidAddress, InvalidDocument
from adapters.hybridmail.geometry import DIN_5008_FORM_B, EPOST_WINDOW
from adapters.hybridmail.options import PdfLimits
from adapters.hybridmail.pdfcheck import inspect_pdf
from adapters.hybridmail.prepare import prepare_letter
from gateway.errors import InvalidPayload

OPTIONS = testing.options("https://epost.example.invalid")
ERIKA_LINES = testing.ERIKA.printed_lines()


def verdict(path: Path, recipient: PostalAddress = testing.ERIKA, window: object = EPOST_WINDOW) -> Verdict:
    lines = page_lines(PdfReader(path).pages[0])
    return judge(read_zone(lines, window), recipient)  # type: ignore[arg-type]


def test_a_good_pdf_passes_with_its_facts(tmp_path: Path) -> None:
    facts = inspect_pdf(testing.letter_pdf(tmp_path / "a.pdf", ERIKA_LINES, pages=3), PdfLimits())
    assert facts.pages == 3 and facts.size > 0 and len(facts.sha256) == 64


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: p.write_bytes(b"PK\x03\x04 a zip file") and p, "not a PDF"),
    (lambda p: p.write_bytes(b"%PDF-1.7\n garbage without structure") and p, "cannot be read"),
    (testing.landscape_pdf, "need A4 portrait"),
    (testing.us_letter_pdf, "need A4 portrait"),
])
def test_bad_documents_are_refused(tmp_path: Path, make: object, message: str) -> None:
    path = make(tmp_path / "d.pdf")  # type: ignore[operator]
    with pytest.raises(InvalidDocument, match=message) as caught:
        inspect_pdf(path, PdfLimits())
    assert isinstance(caught.value, InvalidPayload)


def test_size_and_page_limits(tmp_path: Path) -> None:
    path = testing.letter_pdf(tmp_path / "d.pdf", ERIKA_LINES, pages=4)
    with pytest.raises(InvalidDocument, match="at most 3 are accepted"):
        inspect_pdf(path, PdfLimits(max_pages=3))
    with pytest.raises(InvalidDocument, match="at most 100 are accepted"):
        inspect_pdf(path, PdfLimits(max_bytes=100))


def test_an_encrypted_pdf_is_refused(tmp_path: Path) -> None:
    writer = PdfWriter(clone_from=testing.letter_pdf(tmp_path / "d.pdf", ERIKA_LINES))
    writer.encrypt("secret")
    target = tmp_path / "enc.pdf"
    with open(target, "wb") as fh:
        writer.write(fh)
    with pytest.raises(InvalidDocument, match="encrypted"):
        inspect_pdf(target, PdfLimits())


def test_the_recipient_address_in_the_window_matches(tmp_path: Path) -> None:
    assert verdict(testing.letter_pdf(tmp_path / "a.pdf", ERIKA_LINES)) == Verdict.MATCH
    # Case and spacing differences do not matter; a different street does.
    assert verdict(testing.letter_pdf(tmp_path / "b.pdf", ["ERIKA  MUSTERMANN", "heidestraße 17",
                                                           "39517 Tangerhütte"])) == Verdict.MATCH
    assert verdict(testing.letter_pdf(tmp_path / "c.pdf", ERIKA_LINES)) == Verdict.MATCH


def test_another_persons_address_is_a_mismatch(tmp_path: Path) -> None:
    assert verdict(testing.letter_pdf(tmp_path / "a.pdf", testing.MAX.printed_lines())) == Verdict.MISMATCH


def test_no_address_or_body_text_through_the_window_needs_a_cover(tmp_path: Path) -> None:
    assert verdict(testing.letter_pdf(tmp_path / "a.pdf")) == Verdict.NO_ADDRESS
    assert verdict(testing.letter_pdf(tmp_path / "b.pdf", body_through_window=True)) == Verdict.NO_ADDRESS


def test_the_right_address_in_the_wrong_place_needs_a_cover(tmp_path: Path) -> None:
    # Plain DIN 5008 puts the first line at 62.7 mm: inside E-POST's franking band.
    din = testing.letter_pdf(tmp_path / "din.pdf", ERIKA_LINES, top_mm=65.0)
    assert verdict(din) == Verdict.NO_ADDRESS
    assert verdict(din, window=DIN_5008_FORM_B) == Verdict.MATCH
    left = testing.letter_pdf(tmp_path / "left.pdf", ERIKA_LINES, left_mm=8.0)
    assert verdict(left) == Verdict.NO_ADDRESS


def test_positions_follow_the_transformation_matrix(tmp_path: Path) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    path = tmp_path / "cm.pdf"
    page = canvas.Canvas(str(path), pagesize=A4)
    page.translate(0, -100)  # everything drawn 100 pt (35.3 mm) lower than its text position says
    page.setFont("Helvetica", 10)
    for n, line in enumerate(ERIKA_LINES):
        page.drawString(56.7, 842 - 34.2 * 2.8346 - n * 11.3 + 100, line)
    page.save()
    lines = page_lines(PdfReader(path).pages[0])
    assert [round(ln.y) for ln in lines] == [round(34.2 + 4 * n * 11.3 / 11.34) for n in range(3)]
    assert verdict(path) == Verdict.NO_ADDRESS  # 34 mm from the top: above the window


def cover(recipient: PostalAddress = testing.ERIKA) -> bytes:
    return render_cover_page(recipient=recipient, sender=OPTIONS.sender, authority=OPTIONS.authority_name,
                             title="Bescheid", reference="TGH-2026-000123", enclosed_pages=2, on=date(2026, 3, 1),
                             window=EPOST_WINDOW)


def test_the_cover_page_puts_the_address_where_the_window_is() -> None:
    lines = page_lines(PdfReader(BytesIO(cover())).pages[0])
    reading = read_zone(lines, EPOST_WINDOW)
    assert judge(reading, testing.ERIKA) == Verdict.MATCH
    assert reading.sender_lines == ("Stadt Tangerhütte · Bismarckstraße 5 · 39517 Tangerhütte",)
    assert reading.franking_band == () and reading.left_margin == ()
    for line in lines:
        assert 19.9 <= line.x < 105.0
        assert not 53.0 < line.y <= 66.0  # the franking band stays empty
    below_fold = " ".join(ln.text for ln in lines if ln.y > 105)
    assert "TGH-2026-000123" in below_fold and "01.03.2026" in below_fold and "2 Seiten" in below_fold
    assert "Erika" not in below_fold and "Heidestra" not in below_fold


def test_the_cover_page_is_the_same_for_the_same_input() -> None:
    assert cover() == cover()


def test_the_cover_page_prints_six_lines_and_abroad_addresses() -> None:
    abroad = PostalAddress(lines=("Jan Kowalski", "c/o Firma Beispiel", "ul. Długa 5", "Wohnung 3"),
                           zip_code="00-238", city="Warszawa", country="Polen")
    reading = read_zone(page_lines(PdfReader(BytesIO(cover(abroad))).pages[0]), EPOST_WINDOW)
    assert reading.recipient_lines[-1] == "POLEN" and len(reading.recipient_lines) == 6
    assert judge(reading, abroad) == Verdict.MATCH


def test_characters_the_font_lacks_are_refused() -> None:
    with pytest.raises(InvalidAddress, match="cannot print"):
        cover(PostalAddress(lines=("李小龍",), zip_code="10115", city="Berlin"))


def test_a_line_too_long_for_the_window_is_refused() -> None:
    with pytest.raises(InvalidAddress, match="too long"):
        cover(PostalAddress(lines=("W" * 60,), zip_code="10115", city="Berlin"))


def test_prepare_keeps_a_document_whose_page_one_fits(tmp_path: Path) -> None:
    doc = testing.letter_pdf(tmp_path / "doc.pdf", ERIKA_LINES)
    prepared = prepare_letter(doc, testing.ERIKA, name="r-1", title="Bescheid", reference="TGH-2026-000123",
                              work_dir=tmp_path / "work", options=OPTIONS)
    assert prepared.path == doc and not prepared.cover_page and prepared.pages == 2


def test_prepare_puts_a_cover_page_in_front_when_needed(tmp_path: Path) -> None:
    doc = testing.letter_pdf(tmp_path / "doc.pdf", pages=2)
    before = doc.read_bytes()
    prepared = prepare_letter(doc, testing.ERIKA, name="r-2", title="Bescheid", reference="TGH-2026-000123",
                              work_dir=tmp_path / "work", options=OPTIONS)
    assert prepared.cover_page and prepared.pages == 3 and prepared.path == tmp_path / "work" / "r-2.pdf"
    assert doc.read_bytes() == before  # the decision itself is never changed
    reader = PdfReader(prepared.path)
    assert "Aktenzeichen: TGH-2026-000123" in reader.pages[0].extract_text()
    assert "Bescheid - Seite 1" in reader.pages[1].extract_text()
    assert not list((tmp_path / "work").glob("*.part"))


def test_prepare_refuses_someone_elses_address(tmp_path: Path) -> None:
    doc = testing.letter_pdf(tmp_path / "doc.pdf", testing.MAX.printed_lines())
    with pytest.raises(AddressMismatch, match=r"address line\(s\) 1, 2 in the window differ") as caught:
        prepare_letter(doc, testing.ERIKA, name="r-3", title="Bescheid", reference="TGH-2026-000123",
                       work_dir=tmp_path, options=OPTIONS)
    assert "Max" not in caught.value.detail and "Lindenweg" not in caught.value.detail


def test_cover_page_policies(tmp_path: Path) -> None:
    bare = testing.letter_pdf(tmp_path / "bare.pdf")
    never = OPTIONS.model_copy(update={"cover_page": "never"})
    with pytest.raises(InvalidDocument, match="cover pages are off"):
        prepare_letter(bare, testing.ERIKA, name="r-4", title="Bescheid", reference="TGH-2026-000123",
                       work_dir=tmp_path, options=never)
    always = OPTIONS.model_copy(update={"cover_page": "always"})
    fitting = testing.letter_pdf(tmp_path / "fit.pdf", ERIKA_LINES)
    assert prepare_letter(fitting, testing.ERIKA, name="r-5", title="Bescheid", reference="TGH-2026-000123",
                          work_dir=tmp_path, options=always).cover_page

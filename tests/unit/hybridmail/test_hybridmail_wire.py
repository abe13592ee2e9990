"""Addresses, the streamed upload body and the status mapping."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from adapters.hybridmail import testing
from adapters.hybridmail.address import PostalAddress
from adapters.hybridmail.status import DeliveryState, delivery_state, is_final
from adapters.hybridmail.wire import LetterMetadata, LetterStatus, LetterUpload, upload_body


def test_printed_lines_follow_the_letter_fields() -> None:
    abroad = PostalAddress(lines=("Anna Nowak",), zip_code="1010", city="Wien", country="Österreich")
    assert abroad.printed_lines() == ["Anna Nowak", "1010 Wien", "ÖSTERREICH"]
    assert PostalAddress(lines=("A B",), zip_code="1", city="X", country="Deutschland").country is None
    assert PostalAddress(lines=("  Erika   Mustermann ",), zip_code="1", city="X").lines == ("Erika Mustermann",)


@pytest.mark.parametrize("fields", [
    {"lines": ()},
    {"lines": ("a", "b", "c", "d", "e"), "country": "Polen"},  # seven printed lines
    {"lines": ("Erika\nMustermann",)},
    {"lines": ("x" * 81,)},
    {"city": " "},
])
def test_unusable_addresses_are_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        PostalAddress.model_validate({"lines": ("Erika",), "zip_code": "39517", "city": "Tangerhütte", **fields})


@pytest.mark.parametrize("sizes", [[0], [1], [2], [3], [1_000_003], [10, 200_001, 7]])
def test_the_streamed_body_is_the_json_it_announces(tmp_path: Path, sizes: list[int]) -> None:
    letters = []
    for number, size in enumerate(sizes):
        pdf = tmp_path / f"{number}.pdf"
        pdf.write_bytes(os.urandom(size))
        metadata = LetterMetadata.for_recipient(testing.ERIKA, testing.options("https://x.invalid").sender,
                                                fileName=f"rg-{number:04d}.pdf", custom1=f"r-{number}", batchID=3)
        letters.append(LetterUpload(metadata=metadata, pdf=pdf, size=size))
    length, chunks = upload_body(letters)
    body = b"".join(chunks)
    assert len(body) == length
    parsed = json.loads(body)
    assert [base64.b64decode(item["data"]) for item in parsed] == [(tmp_path / f"{n}.pdf").read_bytes()
                                                                   for n in range(len(sizes))]
    first = parsed[0]
    assert first["addressLine1"] == "Erika Mustermann" and first["zipCode"] == "39517"
    assert first["senderAdressLine1"] == "Stadt Tangerhütte" and first["batchID"] == 3
    assert "addressLine3" not in first and "country" not in first


def test_a_file_that_changes_while_streaming_is_noticed(tmp_path: Path) -> None:
    pdf = tmp_path / "a.pdf"
    pdf.write_bytes(b"%PDF-" + b"x" * 100)
    metadata = LetterMetadata.for_recipient(testing.ERIKA, testing.options("https://x.invalid").sender,
                                            fileName="rg-a.pdf")
    letter = LetterUpload(metadata=metadata, pdf=pdf, size=50)
    with pytest.raises(ValueError, match="changed size"):
        b"".join(letter.encode())


@pytest.mark.parametrize(("status_id", "test_flag", "state", "final"), [
    (1, False, DeliveryState.SENT, False), (2, False, DeliveryState.ACCEPTED, False),
    (3, False, DeliveryState.ACCEPTED, False), (4, False, DeliveryState.DELIVERED, True),
    (99, False, DeliveryState.FAILED, True), (2, True, DeliveryState.ACCEPTED, True),
    (1, True, DeliveryState.SENT, False), (7, False, None, False),
])
def test_status_ids_map_onto_delivery_states(status_id: int, test_flag: bool, state: DeliveryState | None,
                                             final: bool) -> None:
    status = LetterStatus.model_validate({"letterID": 1, "statusID": status_id, "testFlag": test_flag,
                                          "somethingNew": "ignored"})
    assert delivery_state(status) == state and is_final(status) == final

"""Conversions of raw source values to typed field values."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from gateway.mapping.run.common import ValueProblem
from gateway.mapping.run.conversions import VALUE_TYPES, convert, to_boolean, to_decimal, to_integer
from gateway.mapping.run.dates import (
    BERLIN,
    DEFAULT_DATE_FORMATS,
    DEFAULT_DATETIME_FORMATS,
    compile_format,
    to_date,
    to_datetime,
)

DATES = tuple(compile_format(f) for f in DEFAULT_DATE_FORMATS)
DATETIMES = tuple(compile_format(f) for f in DEFAULT_DATETIME_FORMATS)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-21", dt.date(2026, 11, 21)),
        ("21.11.2026", dt.date(2026, 11, 21)),
        ("1.2.2026", dt.date(2026, 2, 1)),
        ("01.02.2026", dt.date(2026, 2, 1)),
        ("21112026", dt.date(2026, 11, 21)),
        ("20261121", dt.date(2026, 11, 21)),  # ISO 8601 basic, reached via "iso" after %d%m%Y fails
        ("2026-11-21T10:00:00", dt.date(2026, 11, 21)),
        # a browser's local midnight sent as UTC is still the local day in Berlin
        ("2026-11-20T23:00:00Z", dt.date(2026, 11, 21)),
        (dt.date(2026, 1, 2), dt.date(2026, 1, 2)),
        (dt.datetime(2026, 1, 2, 23, 30), dt.date(2026, 1, 2)),
    ],
)
def test_date_accepts_every_documented_notation(raw: Any, expected: dt.date) -> None:
    assert to_date(raw, DATES) == expected


@pytest.mark.parametrize("raw", ["31.02.2026", "1112026", "21-11-2026", "2026/11/21", "morgen", "", "32.01.2026"])
def test_date_rejects_impossible_and_ambiguous_text(raw: str) -> None:
    with pytest.raises(ValueProblem):
        to_date(raw, DATES)


@pytest.mark.parametrize("raw", [21112026, True, Decimal("2026"), ["2026-11-21"]])
def test_date_rejects_non_text(raw: Any) -> None:
    with pytest.raises(ValueProblem, match="expected a date"):
        to_date(raw, DATES)


def test_problem_messages_never_repeat_the_value() -> None:
    secret = "Geheimweg 7"
    for convert_one in (
        lambda: to_date(secret, DATES),
        lambda: to_decimal(secret),
        lambda: to_boolean(secret),
        lambda: to_integer(secret),
    ):
        with pytest.raises(ValueProblem) as caught:
            convert_one()
        assert secret not in str(caught.value)
        assert "Geheim" not in str(caught.value)


def test_custom_formats_replace_the_defaults() -> None:
    parsers = (compile_format("%d/%m/%Y"),)
    assert to_date("21/11/2026", parsers) == dt.date(2026, 11, 21)
    with pytest.raises(ValueProblem):
        to_date("2026-11-21", parsers)


def test_unsupported_directive_falls_back_to_strptime() -> None:
    assert to_date("21 Nov 2026", (compile_format("%d %b %Y"),)) == dt.date(2026, 11, 21)


@pytest.mark.parametrize("fmt", ["heute", "%d.%m", "%H:%M"])
def test_format_without_year_is_refused(fmt: str) -> None:
    with pytest.raises(ValueError, match="needs a year"):
        compile_format(fmt)


def test_naive_datetime_is_berlin_time_with_daylight_saving() -> None:
    winter = to_datetime("2026-01-15T10:00:00", DATETIMES)
    summer = to_datetime("2026-07-15T10:00:00", DATETIMES)
    assert winter.utcoffset() == dt.timedelta(hours=1)
    assert summer.utcoffset() == dt.timedelta(hours=2)
    assert winter.tzinfo is BERLIN


def test_aware_datetime_keeps_its_offset() -> None:
    value = to_datetime("2026-11-21T09:14:03Z", DATETIMES)
    assert value == dt.datetime(2026, 11, 21, 9, 14, 3, tzinfo=dt.UTC)
    assert value.utcoffset() == dt.timedelta(0)


def test_datetime_needs_a_time() -> None:
    with pytest.raises(ValueProblem, match="date and time"):
        to_datetime("2026-11-21", DATETIMES)


def test_datetime_with_german_format() -> None:
    parsers = (compile_format("%d.%m.%Y %H:%M"),)
    assert to_datetime("04.04.2026 19:00", parsers) == dt.datetime(2026, 4, 4, 19, 0, tzinfo=BERLIN)


@pytest.mark.parametrize("word", ["true", "JA", "Ja", "1", "j", "yes", " ja "])
def test_boolean_true_words(word: str) -> None:
    assert to_boolean(word) is True


@pytest.mark.parametrize("word", ["false", "Nein", "0", "N", "no"])
def test_boolean_false_words(word: str) -> None:
    assert to_boolean(word) is False


@pytest.mark.parametrize(("raw", "expected"), [(True, True), (False, False), (1, True), (0, False)])
def test_boolean_from_json_values(raw: Any, expected: bool) -> None:
    assert to_boolean(raw) is expected


@pytest.mark.parametrize("raw", ["vielleicht", "", 2, Decimal("1"), None])
def test_boolean_rejects_everything_else(raw: Any) -> None:
    with pytest.raises(ValueProblem):
        to_boolean(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12,50", Decimal("12.50")),
        ("12.50", Decimal("12.50")),
        (" 3 ", Decimal("3")),
        ("-0,5", Decimal("-0.5")),
        (7, Decimal(7)),
        (Decimal("1.10"), Decimal("1.10")),
        (0.1, Decimal("0.1")),
    ],
)
def test_decimal_accepts_comma_and_dot(raw: Any, expected: Decimal) -> None:
    result = to_decimal(raw)
    assert result == expected
    assert str(result) == str(expected)  # keeps the written precision: 12,50 stays 12.50


@pytest.mark.parametrize(
    "raw", ["1.234,56", "12,5,0", "1e5", "NaN", "Infinity", "", "zwölf", True, Decimal("NaN"), float("inf")]
)
def test_decimal_rejects_bad_values(raw: Any) -> None:
    with pytest.raises(ValueProblem):
        to_decimal(raw)


@pytest.mark.parametrize(("raw", "expected"), [("3", 3), ("3,0", 3), (4, 4), (Decimal("5.00"), 5), (2.0, 2)])
def test_integer_accepts_whole_numbers(raw: Any, expected: int) -> None:
    result = to_integer(raw)
    assert result == expected
    assert type(result) is int


@pytest.mark.parametrize("raw", ["3,5", Decimal("2.5"), True, "drei"])
def test_integer_rejects_fractions_and_text(raw: Any) -> None:
    with pytest.raises(ValueProblem):
        to_integer(raw)


@pytest.mark.parametrize(
    ("value_type", "raw", "expected"),
    [
        ("string", 39517, "39517"),
        ("string", Decimal("2.5"), "2.5"),
        ("text", "a\nb", "a\nb"),
        ("code", 1, "1"),
        ("code", Decimal("2"), "2"),
        ("code", 3.0, "3"),
        ("string", dt.date(2026, 1, 2), "2026-01-02"),
    ],
)
def test_text_and_code_from_other_json_types(value_type: str, raw: Any, expected: str) -> None:
    assert convert(value_type, raw, DATES) == expected


@pytest.mark.parametrize(
    ("value_type", "raw"),
    [("string", True), ("string", {"a": 1}), ("code", 1.5), ("code", False), ("string", ["x"])],
)
def test_text_and_code_reject_structures_and_booleans(value_type: str, raw: Any) -> None:
    with pytest.raises(ValueProblem):
        convert(value_type, raw, DATES)



TEXTS = ["12,50", "-0.5", "+7", "1.234,56", "1e5", "NaN", "١٢", "3", "3,5", "ja", "Nein", "x", "2026-11-21",
         "21.11.2026", "2026-11-21T10:00:00", "2026-11-21T10:00:00+01:00", "31.02.2026", "a b"]


@pytest.mark.parametrize("value_type", sorted(VALUE_TYPES))
def test_any_text_converts_or_is_a_value_problem(value_type: str) -> None:
    """Whatever a citizen types, conversion gives a value of the type or a ValueProblem, nothing else."""
    parsers = DATETIMES if value_type == "datetime" else DATES
    kinds = {"string": str, "text": str, "code": str, "boolean": bool, "integer": int, "decimal": Decimal,
             "date": dt.date, "datetime": dt.datetime}
    converted = 0
    for raw in TEXTS:
        try:
            value = convert(value_type, raw, parsers)
        except ValueProblem:
            continue
        assert isinstance(value, kinds[value_type]), raw
        converted += 1
    assert converted > 0

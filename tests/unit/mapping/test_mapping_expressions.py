"""The safe expression language: what it computes, and what it refuses at load time."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from gateway.errors import ConfigurationError
from gateway.mapping.load.expressions import NameInfo, compile_expression
from gateway.mapping.run.expressions import ExpressionError

PLAIN = NameInfo()
NAMES = {
    "a": PLAIN,
    "b": PLAIN,
    "s": PLAIN,
    "d1": PLAIN,
    "d2": PLAIN,
    "missing": PLAIN,
    "hund": NameInfo({"name": PLAIN, "rasse": PLAIN}),
    "kinder": NameInfo({"name": PLAIN, "betrag": PLAIN, "geschwister": NameInfo({"x": PLAIN}, True)}, True),
}
SCOPE: dict[str, Any] = {
    "a": 7,
    "b": Decimal("2.50"),
    "s": " Tanger ",
    "d1": dt.date(2019, 6, 15),
    "d2": dt.date(2026, 2, 20),
    "missing": None,
    "hund": {"name": "Bello", "rasse": "labrador"},
    "kinder": [
        {"name": "Lena", "betrag": Decimal("10.5"), "geschwister": [{"x": 1}, {"x": 2}]},
        {"name": "Paul", "betrag": None, "geschwister": [{"x": 3}]},
    ],
}


def run(text: str, scope: dict[str, Any] | None = None) -> Any:
    return compile_expression(text, NAMES, "m.yaml:9").evaluate(SCOPE if scope is None else scope)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("60 + 90 * len(kinder)", 240),
        ("a / 2", Decimal("3.5")),  # int / int stays exact
        ("a // 2", 3),
        ("a % 4", 3),
        ("-a + +2", -5),
        ("b * 2", Decimal("5.00")),
        ("0.1 + 0.2 == 0.3", True),  # float literals are Decimals
        ("a > 5 and b < 3", True),
        ("a > 5 and missing", None),
        ("missing or 'x'", "x"),
        ("not missing", True),
        ("1 < a <= 7", True),
        ("1 < a < 5", False),
        ("hund.rasse in ['labrador', 'pudel']", True),
        ("hund.rasse not in ('labrador',)", False),
        ("'ang' in s", True),
        ("'gross' if a > 5 else 'klein'", "gross"),
        ("true and not false", True),
        ("None == missing", True),
        ("kinder.name", ["Lena", "Paul"]),
        ("kinder.geschwister.x", [1, 2, 3]),
        ("sum(kinder.betrag)", Decimal("10.5")),
        ("min(3, a, 1)", 1),
        ("max(kinder.name)", "Paul"),
        ("min(missing, missing)", None),
        ("round(b / 3, 2)", Decimal("0.83")),
        ("round(2.5)", Decimal("3")),  # half up, not banker's
        ("abs(-a)", 7),
        ("concat(hund.name, ' (', a, ')')", "Bello (7)"),
        ("concat(missing, d1)", "2019-06-15"),
        ("upper(strip(s))", "TANGER"),
        ("lower(hund.name)", "bello"),
        ("coalesce(missing, '', 'drei')", "drei"),
        ("years_between(d1, d2)", 6),
        ("days_between(d1, d1)", 0),
        ("days_between(d2, d1)", -2442),
        ("len(missing)", 0),
        ("len(s)", 8),
        ("[a, 1]", [7, 1]),
    ],
)
def test_allowed_constructs(text: str, expected: Any) -> None:
    result = run(text)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    "text",
    [
        "missing + 1",
        "a * missing",
        "-missing",
        "round(missing)",
        "abs(missing)",
        "upper(missing)",
        "years_between(missing, d2)",
        "days_between(d1, missing)",
    ],
)
def test_none_propagates(text: str) -> None:
    assert run(text) is None


@pytest.mark.parametrize("text", ["missing < 3", "missing >= 3", "3 > missing", "'a' in missing"])
def test_ordering_with_none_is_false(text: str) -> None:
    assert run(text) is False


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("s * a", "needs numbers"),  # would allow unbounded allocation from input
        ("s % a", "needs numbers"),  # would be string formatting
        ("a + s", "needs numbers"),
        ("a / 0", "DivisionByZero|ZeroDivision|InvalidOperation"),
        ("len(a)", "len"),
        ("upper(a)", "text"),
        ("years_between(s, d2)", "not a date"),
        ("sum(s)", "sum"),
        ("d1 < a", "TypeError"),
        ("round(a, 'x')", "whole number"),
    ],
)
def test_runtime_errors_are_expression_errors_without_values(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message) as caught:
        run(text)
    assert "Tanger" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hund.__class__", "no member '__class__'"),
        ("a.__class__", "only allowed on a group"),
        ("().__class__.__bases__", "only allowed on a group"),
        ("s.upper()", "method calls"),
        ("(a)(1)", "function 'a' is not allowed"),
        ("(a or b)(1)", "only the listed functions"),
        ("open('/etc/passwd')", "function 'open' is not allowed"),
        ("__import__('os')", "function '__import__' is not allowed"),
        ("eval('1')", "function 'eval' is not allowed"),
        ("getattr(hund, 'x')", "function 'getattr' is not allowed"),
        ("(lambda: 1)()", "lambda"),
        ("[x for x in kinder]", "comprehension"),
        ("(x for x in kinder)", "generator"),
        ("{x for x in kinder}", "comprehension"),
        ("kinder[0]", "subscripting"),
        ("s[0:2]", "subscripting"),
        ("f'{a}'", "f-string"),
        ("{'a': 1}", "dict literal"),
        ("(y := 1)", "assignment"),
        ("a ** 2", "operator Pow"),
        ("a << 2", "operator LShift"),
        ("~a", "operator Invert"),
        ("a is None", "comparison Is"),
        ("round(b, ndigits=2)", "keyword"),
        ("max(*kinder)", "star"),
        ("len(a, b)", "len\\(\\) takes 1 arguments"),
        ("round(a, 1, 2)", "round\\(\\) takes 1 to 2 arguments"),
        ("unbekannt + 1", "unknown name 'unbekannt'"),
        ("hund.farbe", "no member 'farbe'"),
        ("b'bytes'", "literal of type bytes"),
        ("1 +", "not a valid expression"),
        ("a; b", "not a valid expression"),
        ("", "non-empty"),
    ],
)
def test_forbidden_constructs_fail_at_load_with_location(text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        compile_expression(text, NAMES, "mappings/portal/x.yaml:9")
    assert str(caught.value).startswith("mappings/portal/x.yaml:9: ")


def test_overlong_expression_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="longer than"):
        compile_expression("1 + " * 600 + "1", NAMES, "m.yaml:1")


def test_names_are_checked_against_the_given_scope_only() -> None:
    with pytest.raises(ConfigurationError, match="unknown name 'a'"):
        compile_expression("a + 1", {"b": PLAIN}, "m.yaml:1")


def test_column_of_the_offending_node_is_reported() -> None:
    with pytest.raises(ConfigurationError, match="column 5: subscripting"):
        compile_expression("a + kinder[0]", NAMES, "m.yaml:1")

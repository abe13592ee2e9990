"""JSON Schema validation of source documents: library-backed, reported without values."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from gateway.jsonschema_check import JsonSchema, SchemaError


def errors(schema: Any, document: Any) -> list[tuple[str, str]]:
    return [(v.location, v.message) for v in JsonSchema(schema).validate(document)]


@pytest.mark.parametrize(
    ("type_name", "good", "bad"),
    [
        ("integer", [3, Decimal("3.0")], [Decimal("3.5"), True, "3"]),
        ("number", [3, Decimal("3.5")], [True, "3"]),
        ("boolean", [True, False], [0, "true"]),
        ("string", ["x", ""], [1, None]),
        ("null", [None], [0, ""]),
        ("array", [[]], [{}, "x"]),
        ("object", [{}], [[], None]),
    ],
)
def test_types(type_name: str, good: list[Any], bad: list[Any]) -> None:
    for value in good:
        assert errors({"type": type_name}, value) == []
    for value in bad:
        assert errors({"type": type_name}, value) == [("", f"expected type {type_name}")]


def test_type_list() -> None:
    assert errors({"type": ["string", "null"]}, None) == []
    assert errors({"type": ["string", "null"]}, 1) == [("", "expected type string or null")]


def test_enum_and_const_do_not_confuse_true_with_one() -> None:
    assert errors({"enum": [1, "a"]}, True) == [("", "value is not one of the allowed values")]
    assert errors({"enum": [1, "a"]}, Decimal("1.0")) == []
    assert errors({"const": True}, 1) == [("", "value is not the required constant")]
    assert errors({"const": [1, {"a": False}]}, [1, {"a": False}]) == []


def test_objects_required_and_unknown_properties() -> None:
    schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["a", "b"],
        "properties": {
            "a": {"type": "string"},
            "b": {"type": "object", "properties": {"c": {"type": "integer"}}},
        },
    }
    assert errors(schema, {"a": "x", "b": {"c": 1}}) == []
    assert errors(schema, {"a": 1, "b": {"c": "x"}, "geheim/feld": "Wert"}) == [
        ("/a", "expected type string"),  # ordered by location
        ("/b/c", "expected type integer"),
        ("/geheim~1feld", "unknown property 'geheim/feld'"),
    ]
    assert errors(schema, {}) == [
        ("", "missing required property 'a'"),
        ("", "missing required property 'b'"),
    ]


def test_additional_properties_schema() -> None:
    schema = {"properties": {"a": {}}, "additionalProperties": {"type": "integer"}}
    assert errors(schema, {"a": "x", "b": 1}) == []
    assert errors(schema, {"b": "x"}) == [("/b", "expected type integer")]


def test_arrays_and_limits() -> None:
    schema = {
        "type": "array",
        "minItems": 1,
        "maxItems": 2,
        "items": {"type": "string", "minLength": 2, "maxLength": 3, "pattern": "^[a-z]+$"},
    }
    assert errors(schema, ["ab", "abc"]) == []
    assert errors(schema, []) == [("", "fewer than 1 entries")]
    assert errors(schema, ["a", "abcd", "AB"]) == [
        ("", "more than 2 entries"),
        ("/0", "text shorter than 2 characters"),
        ("/1", "text longer than 3 characters"),
        ("/2", "text does not match the required pattern"),
    ]


def test_number_limits() -> None:
    schema = {"minimum": 0, "maximum": 10, "exclusiveMinimum": -1, "exclusiveMaximum": 11}
    assert errors(schema, 0) == []
    assert errors(schema, 10) == []
    assert errors(schema, Decimal("-0.5")) == [("", "number below 0")]
    assert errors(schema, 10.5) == [("", "number above 10")]
    assert errors({"exclusiveMinimum": 0}, 0) == [("", "number not above 0")]
    assert errors({"exclusiveMaximum": 0}, 0) == [("", "number not below 0")]
    assert errors({"minimum": 5}, "3") == []  # limits only apply to numbers


def test_refs_including_recursion() -> None:
    schema = {
        "$ref": "#/$defs/knoten",
        "$defs": {
            "knoten": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "kinder": {"type": "array", "items": {"$ref": "#/$defs/knoten"}},
                },
            }
        },
    }
    assert errors(schema, {"name": "a", "kinder": [{"name": "b", "kinder": []}]}) == []
    assert errors(schema, {"kinder": [{"kinder": [{"name": 3}]}]}) == [
        ("/kinder/0/kinder/0/name", "expected type string")
    ]


def test_combinators() -> None:
    alternatives = [{"type": "string"}, {"type": "integer", "minimum": 5}]
    assert errors({"anyOf": alternatives}, 7) == []
    assert errors({"anyOf": alternatives}, 3) == [("", "value matches none of the allowed alternatives")]
    assert errors({"oneOf": [{"type": "integer"}, {"minimum": 5}]}, 7) == [
        ("", "value must match exactly one of the alternatives")
    ]
    assert errors({"oneOf": [{"type": "integer"}, {"minimum": 5}]}, 3) == []
    assert errors({"allOf": [{"type": "integer"}, {"minimum": 5}]}, 3) == [("", "number below 5")]


def test_boolean_schemas() -> None:
    assert errors({"properties": {"a": False, "b": True}}, {"b": 1}) == []
    assert errors({"properties": {"a": False}}, {"a": 1}) == [("/a", "no value is allowed here")]


def test_messages_never_contain_values() -> None:
    schema = {"properties": {"a": {"enum": ["x"]}, "b": {"pattern": "^\\d+$"}, "c": {"maxLength": 2}}}
    found = JsonSchema(schema).validate({"a": "Geheim1", "b": "Geheim2", "c": "Geheim3"})
    assert len(found) == 3
    assert not any("Geheim" in v.message or "Geheim" in v.location for v in found)


def test_annotations_are_accepted() -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "x",
        "title": "t",
        "description": "d",
        "$comment": "c",
        "examples": [1],
        "default": 1,
        "format": "email",
    }
    assert errors(schema, "kein-email") == []  # format is an annotation in draft 2020-12


def test_conditionals_are_supported() -> None:
    schema = {"if": {"properties": {"art": {"const": "verein"}}}, "then": {"required": ["vereinsname"]}}
    assert errors(schema, {"art": "person"}) == []
    assert errors(schema, {"art": "verein"}) == [("", "missing required property 'vereinsname'")]


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"requried": ["a"]}, "unsupported keyword 'requried' at /"),
        (
            {"properties": {"a": {"maxLenght": 3}}},
            "unsupported keyword 'maxLenght' at /properties/a",
        ),
        ({"$ref": "other.json#/x"}, "only local references"),
        ({"$ref": "https://example.org/s.json"}, "only local references"),
        ({"$ref": "#/$defs/fehlt"}, "unresolvable reference"),
        ({"type": "text"}, "invalid schema at /type"),
        ({"pattern": "("}, "invalid schema at /pattern"),
        ({"minLength": "drei"}, "invalid schema at /minLength"),
        ({"anyOf": []}, "invalid schema at /anyOf"),
        ({"required": "a"}, "invalid schema at /required"),
        ("schema", "must be an object or a boolean"),
        ({"$defs": {"x": {"unbekannt": 1}}}, "unsupported keyword 'unbekannt' at /$defs/x"),
    ],
)
def test_schema_errors_at_load(schema: Any, message: str) -> None:
    with pytest.raises(SchemaError, match=message.replace("$", "\\$").replace("(", "\\(")):
        JsonSchema(schema)

"""JSON Schema (draft 2020-12) validation with the ``jsonschema`` package, reported without values.

``jsonschema``'s own messages quote the offending value — personal data in an application —
so each violation is re-worded from its keyword and the schema's limit only. Integral
``Decimal`` numbers count as integers (documents are parsed with ``parse_float=Decimal`` so
money keeps its cents). A schema with a misspelt keyword or a non-local ``$ref`` is refused
at load time: nothing may silently check less than it reads, and nothing is fetched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError as _LibrarySchemaError
from jsonschema.exceptions import ValidationError
from jsonschema.validators import extend

ANNOTATIONS: Final = frozenset({"$schema", "$id", "$comment", "title", "description", "default", "examples",
                                "deprecated", "readOnly", "writeOnly", "format", "$defs", "$anchor",
                                "contentMediaType", "contentEncoding",
                                # evaluated by their partner keyword (if, contains)
                                "then", "else", "minContains", "maxContains"})


class SchemaError(ValueError):
    """The schema itself is unusable."""


@dataclass(frozen=True)
class Violation:
    location: str
    message: str


def _is_integer(_: Any, instance: Any) -> bool:
    if isinstance(instance, bool):
        return False
    return isinstance(instance, int) or (isinstance(instance, Decimal | float) and instance == int(instance))


_Validator = extend(  # type: ignore[no-untyped-call]  # jsonschema's stubs leave it untyped
    Draft202012Validator,
                    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer))


def _pointer(parts: Any) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _types(value: Any) -> str:
    return " or ".join(value) if isinstance(value, list) else str(value)


MESSAGES: Final[dict[str, Callable[[Any], str]]] = {
    "type": lambda v: f"expected type {_types(v)}",
    "enum": lambda _: "value is not one of the allowed values",
    "const": lambda _: "value is not the required constant",
    "minItems": lambda v: f"fewer than {v} entries",
    "maxItems": lambda v: f"more than {v} entries",
    "uniqueItems": lambda _: "entries must be unique",
    "minLength": lambda v: f"text shorter than {v} characters",
    "maxLength": lambda v: f"text longer than {v} characters",
    "pattern": lambda _: "text does not match the required pattern",
    "minimum": lambda v: f"number below {v}",
    "maximum": lambda v: f"number above {v}",
    "exclusiveMinimum": lambda v: f"number not above {v}",
    "exclusiveMaximum": lambda v: f"number not below {v}",
    "multipleOf": lambda v: f"number is not a multiple of {v}",
    "anyOf": lambda _: "value matches none of the allowed alternatives",
    "oneOf": lambda _: "value must match exactly one of the alternatives",
    "not": lambda v: "no value is allowed here" if v == {} else "value matches a forbidden form",
    "minProperties": lambda v: f"fewer than {v} properties",
    "maxProperties": lambda v: f"more than {v} properties",
}


def _violations(error: ValidationError) -> Iterator[Violation]:
    location = _pointer(error.absolute_path)
    value: Any = error.validator_value
    instance: Any = error.instance
    schema: Any = error.schema
    if error.validator == "required":
        for name in value:
            if isinstance(instance, dict) and name not in instance:
                yield Violation(location, f"missing required property {name!r}")
    elif error.validator in ("additionalProperties", "unevaluatedProperties") and value is False:
        known = set(schema.get("properties", {})) if isinstance(schema, dict) else set()
        for name in sorted(k for k in instance if k not in known):
            yield Violation(f"{location}{_pointer([name])}", f"unknown property {name!r}")
    else:
        wording = MESSAGES.get(str(error.validator))
        yield Violation(location, wording(value) if wording else f"violates {error.validator!r}")


_SCHEMA_MAPS: Final = ("properties", "$defs", "patternProperties", "dependentSchemas")
_SCHEMA_VALUES: Final = ("items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames",
                         "unevaluatedItems", "unevaluatedProperties")
_SCHEMA_LISTS: Final = ("allOf", "anyOf", "oneOf", "prefixItems")


def _normalise(schema: Any, where: str, refs: list[tuple[str, str]]) -> Any:
    """Checks keywords and collects references; ``false`` becomes ``{"not": {}}`` because the
    library reports a ``false`` subschema without the property's name in the path."""
    if schema is False:
        return {"not": {}}
    if schema is True:
        return {}
    if not isinstance(schema, dict):
        raise SchemaError(f"a schema must be an object or a boolean at {where or '/'}")
    result: dict[str, Any] = {}
    for key, value in schema.items():
        if key not in _Validator.VALIDATORS and key not in ANNOTATIONS:
            raise SchemaError(f"unsupported keyword {key!r} at {where or '/'}")
        if key == "$ref":
            if not isinstance(value, str) or not value.startswith("#"):
                raise SchemaError(f"only local references are allowed, not {value!r} at {where or '/'}")
            refs.append((value, where))
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            value = {name: _normalise(sub, f"{where}/{key}/{name}", refs) for name, sub in value.items()}
        elif key in _SCHEMA_VALUES and not (value is False and key.endswith("Properties")):
            value = _normalise(value, f"{where}/{key}", refs)
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            value = [_normalise(sub, f"{where}/{key}/{i}", refs) for i, sub in enumerate(value)]
        result[key] = value
    return result


def _resolve_local(schema: Any, ref: str, where: str) -> None:
    node = schema
    for part in ref[1:].split("/")[1:] if ref != "#" else []:
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            raise SchemaError(f"unresolvable reference {ref!r} at {where or '/'}")
        node = node[part]


class JsonSchema:
    def __init__(self, schema: Any) -> None:
        refs: list[tuple[str, str]] = []
        normalised = _normalise(schema, "", refs)
        try:
            _Validator.check_schema(schema)
        except _LibrarySchemaError as exc:
            raise SchemaError(f"invalid schema at {_pointer(exc.absolute_path) or '/'}: {exc.message}") from None
        for ref, where in refs:
            _resolve_local(normalised, ref, where)
        self._validator = _Validator(normalised)

    def validate(self, document: Any) -> list[Violation]:
        try:
            found = [v for error in self._validator.iter_errors(document) for v in _violations(error)]
            # one library error per missing property, each naming all required ones: keep each once
            return sorted(dict.fromkeys(found), key=lambda v: v.location)
        except Exception as exc:  # an unresolvable $ref surfaces only when used
            raise SchemaError(f"schema cannot be evaluated: {type(exc).__name__}") from None

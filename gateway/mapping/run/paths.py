"""Paths into a source document, compiled once when a mapping loads and evaluated per message.

JSON paths are JSON Pointers (RFC 6901, parsed by ``jsonpointer``) walked by a small loop of
our own: jsonpointer's ``resolve`` indexes into strings and quotes the document in its error
messages, and neither is acceptable for personal data. XML paths are XPath 1.0 compiled by
lxml with the mapping's namespaces.

Strings are stripped, and empty strings and nulls count as missing: portals send ``""`` for
every question the citizen skipped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

import jsonpointer
from lxml import etree

from gateway.mapping.run.common import MISSING, ValueProblem

_STRING_VALUE: Final = etree.XPath("string()")
_PROBE: Final = etree.Element("probe")


def _blank(value: Any) -> Any:
    if value is None:
        return MISSING
    if isinstance(value, str):
        value = value.strip()
        return value if value else MISSING
    return value


class JsonPath:
    """A compiled JSON Pointer, resolved against the document or a group element."""

    __slots__ = ("_parts", "text")

    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise ValueError("a JSON path must be a string")
        try:
            self._parts = tuple(jsonpointer.JsonPointer(text).parts)
        except jsonpointer.JsonPointerException:
            raise ValueError(f"{text!r} is not a JSON Pointer (it must start with '/')") from None
        self.text = text

    def location(self, base: str) -> str:
        return base + self.text

    def item_location(self, base: str, index: int) -> str:
        return f"{base}{self.text}/{index}"

    def node(self, context: Any) -> Any:
        current = context
        for part in self._parts:
            if isinstance(current, dict):
                current = current.get(part, MISSING)
            elif isinstance(current, list):
                index = int(part) if part.isdigit() and (part == "0" or part[0] != "0") else len(current)
                current = current[index] if index < len(current) else MISSING
            else:
                raise ValueProblem("the document's structure does not match the path")
            if current is MISSING or current is None:
                return MISSING
        return current

    def scalar(self, context: Any) -> Any:
        value = self.node(context)
        if isinstance(value, dict | list):
            raise ValueProblem("expected a single value, found an object or array")
        return _blank(value)

    def nodes(self, context: Any) -> list[Any]:
        value = self.node(context)
        if value is MISSING:
            return []
        if not isinstance(value, list):
            raise ValueProblem("expected an array")
        return [item for item in value if item is not None]

    def present(self, context: Any) -> bool:
        value = self.node(context)
        if isinstance(value, str | dict | list):
            return bool(value.strip() if isinstance(value, str) else value)
        return value is not MISSING


_STEP = re.compile(r"^(?:([A-Za-z_][\w.-]*):)?([A-Za-z_][\w.-]*)$")


def _child_steps(text: str, namespaces: Mapping[str, str]) -> tuple[str, ...] | None:
    """The tags (Clark notation) of an XPath of plain child steps (``./a:x/a:y``), else None."""
    steps = text.strip().removeprefix("./").split("/")
    clark = []
    for step in steps:
        match = _STEP.match(step)
        if match is None:
            return None
        prefix, local = match.groups()
        if prefix is None:
            clark.append(local)  # XPath 1.0: an unprefixed name is in no namespace
        elif prefix in namespaces:
            clark.append(f"{{{namespaces[prefix]}}}{local}")
        else:
            return None
    return tuple(clark)


class XmlPath:
    """A compiled XPath 1.0 expression with the mapping's namespace prefixes.

    Shared by all threads: lxml guards each compiled XPath with its own evaluation lock.
    """

    __slots__ = ("_child_path", "_xpath", "text")

    def __init__(self, text: str, namespaces: Mapping[str, str]) -> None:
        if not isinstance(text, str) or not text.strip():
            raise ValueError("an XPath must be a non-empty string")
        try:
            self._xpath = etree.XPath(text, namespaces=dict(namespaces), smart_strings=False)
            # lxml reports unknown prefixes and functions only when evaluating: probe once now.
            self._xpath(_PROBE)
        except etree.XPathError as exc:
            raise ValueError(f"invalid XPath {text!r}: {exc}") from None
        self.text = text
        self._child_path = _child_steps(text, namespaces)

    def location(self, base: str) -> str:
        return f"{base}/{self.text}" if base else self.text

    def item_location(self, base: str, index: int) -> str:
        return f"{self.location(base)}[{index + 1}]"

    def _evaluate(self, context: Any) -> Any:
        if self._child_path is not None and isinstance(context, etree._Element):
            # plain child steps select the same elements, in document order, by walking the
            # children in C without the XPath engine's set-up: most form fields are such paths
            found = [context]
            for tag in self._child_path:
                found = [child for parent in found for child in parent.iterchildren(tag)]
            return found
        try:
            return self._xpath(context)
        except etree.XPathError:
            raise ValueProblem("XPath evaluation failed") from None

    def scalar(self, context: Any) -> Any:
        result = self._evaluate(context)  # a node list, string, number or boolean
        if isinstance(result, list):
            if not result:
                return MISSING
            if len(result) > 1:
                raise ValueProblem(f"expected one node, found {len(result)}")
            item = result[0]
            if isinstance(item, etree._Element):
                # XPath string(): a leaf's text directly, else all descendant text (no comments)
                if len(item) == 0:
                    text = item.text
                    if text is None:
                        return MISSING
                    text = text.strip()
                    return text if text else MISSING
                result = _STRING_VALUE(item)
            else:
                result = str(item)
        if isinstance(result, float) and result != result:  # NaN: number() of nothing
            return MISSING
        return _blank(result)

    def _elements(self, context: Any) -> list[Any]:
        result = self._evaluate(context)
        if not isinstance(result, list) or not all(isinstance(i, etree._Element) for i in result):
            raise ValueProblem("expected elements")
        return result

    def node(self, context: Any) -> Any:
        elements = self._elements(context)
        if len(elements) > 1:
            raise ValueProblem(f"expected one element, found {len(elements)}")
        return elements[0] if elements else MISSING

    def nodes(self, context: Any) -> list[Any]:
        return self._elements(context)

    def present(self, context: Any) -> bool:
        return any(len(e) or e.attrib or (e.text or "").strip() for e in self._elements(context))


Accessor = JsonPath | XmlPath

"""XÖV payload formats: which MessageType codes the channel takes in, and their validation.

Validation is libxml2's (:mod:`gateway.safexml_schemas`): linear in the payload whatever is
wrong with it, and the first violation is named by path and line when there are few of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from adapters.xta.errors import shown
from adapters.xta.options import FormatOptions, XtaOptions
from gateway.errors import ConfigurationError, InvalidPayload, UnsupportedFormat
from gateway.safexml_schemas import XmlSchema, load_schema


@dataclass(frozen=True)
class XoevFormat:
    code: str
    schema: XmlSchema
    payload_schema: str
    leika_xpath: Any | None  # compiled etree.XPath

    @property
    def source_format(self) -> str:
        return "xta:" + self.code

    def validate(self, root: Any, data: bytes) -> None:
        """``root``: the payload as parsed from ``data`` by gateway.safexml within the channel's limits."""
        if root.tag != "{" + self.payload_schema + "}" + self.code:
            raise InvalidPayload(f"payload root element is {shown(root.tag, 200)}, "
                                 f"expected {{{self.payload_schema}}}{self.code}")
        self.schema.validate(root, data=data, label=f"{self.code} payload")

    def leika(self, root: Any) -> str | None:
        if self.leika_xpath is None:
            return None
        value = self.leika_xpath(root)
        return value.strip() or None if isinstance(value, str) else None


class Formats:
    def __init__(self, formats: dict[str, XoevFormat]) -> None:
        self._formats = formats

    @classmethod
    def from_options(cls, options: XtaOptions, base_dir: Path) -> Formats:
        root = (base_dir / options.schemas_dir).resolve()
        return cls({code: _build(code, spec, root) for code, spec in options.formats.items()})

    def get(self, code: str, payload_schema: str) -> XoevFormat:
        fmt = self._formats.get(code)
        if fmt is None:
            raise UnsupportedFormat(f"XTA MessageType {shown(code)} is not configured for this gateway")
        if payload_schema != fmt.payload_schema:
            raise UnsupportedFormat(f"XTA MessageType {shown(code)} with payloadSchema {shown(payload_schema)}; "
                                    f"expected {fmt.payload_schema!r}")
        return fmt


def _build(code: str, spec: FormatOptions, schemas_root: Path) -> XoevFormat:
    xsd = (schemas_root / spec.xsd).resolve()
    if not xsd.is_relative_to(schemas_root) or not xsd.is_file():
        raise ConfigurationError(f"xta format {code}: XSD {spec.xsd!r} not found under {schemas_root}")
    try:
        schema = load_schema(xsd)  # fail at start-up, not at the first message
        leika = etree.XPath(f"string({spec.leika_xpath})", namespaces={"p": spec.payload_schema}) \
            if spec.leika_xpath else None
    except (etree.XMLSchemaParseError, etree.XPathSyntaxError, InvalidPayload, ConfigurationError) as exc:
        raise ConfigurationError(f"xta format {code}: {exc}") from None
    return XoevFormat(code, schema, spec.payload_schema, leika)

"""One loaded mapping, applied to one source document per message."""

from __future__ import annotations

from pathlib import Path

from gateway.mapping.run.documents import ParsedDocument, parse_json, parse_xml
from gateway.mapping.run.engine import map_document
from gateway.mapping.run.result import MappedApplication
from gateway.mapping.run.spec import MappingSpec


class Mapping:
    """One loaded, validated mapping file."""

    __slots__ = ("_spec", "id", "media_type", "path", "source_format", "title", "version")

    def __init__(self, spec: MappingSpec) -> None:
        self._spec = spec
        self.id: str = spec.id
        self.version: int = spec.version
        self.title: str = spec.title
        self.source_format: str = spec.source.format
        self.media_type: str = spec.source.media_type
        self.path: Path = spec.path

    def __repr__(self) -> str:
        return f"Mapping({self.id!r}, version={self.version})"

    @property
    def spec(self) -> MappingSpec:
        return self._spec

    def apply(self, data: bytes, document: ParsedDocument | None = None) -> MappedApplication:
        """Parse, validate against ``source.schema`` and map one source document.

        ``document``, when given, is ``data`` already parsed and is not parsed again: the root
        element (lxml) for XML, the top-level object for JSON. The caller vouches that it is
        the parse of exactly these bytes with the same safety as here: for XML through
        :mod:`gateway.safexml` (no DTD, entities or network) with limits no looser than
        ``MAX_DOCUMENT_BYTES`` and ``MAX_XML_DEPTH`` (gateway.mapping.run.documents), as
        :func:`parse_xml` does; for JSON by ``parse_json`` (exact decimals, no duplicate keys,
        size limit). Nothing of this is checked again; ``source.schema`` still is.

        Raises InvalidPayload for unparsable or schema-violating input, MappingFailed when the
        document is well-formed but cannot be mapped (missing required value, bad date ...).
        """
        if document is None:
            document = parse_json(data) if self.media_type == "application/json" else parse_xml(data)
        if self._spec.source.schema is not None:
            self._spec.source.schema.validate(document)
        return map_document(self._spec, document)

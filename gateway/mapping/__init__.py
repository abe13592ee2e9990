"""Declarative mappings: one YAML file per source format turns a document into case parts.

``load/`` reads and checks the files at start-up; ``run/`` maps one message. See
``mappings/README.md`` for the file format.
"""

from gateway.mapping.loaded import MappingRegistry
from gateway.mapping.run.documents import MAX_DOCUMENT_BYTES, MAX_XML_DEPTH, ParsedDocument, parse_json, parse_xml
from gateway.mapping.run.mapping import Mapping
from gateway.mapping.run.result import MappedApplication

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "MAX_XML_DEPTH",
    "MappedApplication",
    "Mapping",
    "MappingRegistry",
    "ParsedDocument",
    "parse_json",
    "parse_xml",
]

"""Declarative mappings: one YAML file per source format turns a document into case parts.

See ``mappings/README.md`` for the file format.
"""

from gateway.mapping.registry import Mapping, MappingRegistry
from gateway.mapping.result import MappedApplication
from gateway.mapping.sources import ParsedDocument, parse_xml

__all__ = ["MappedApplication", "Mapping", "MappingRegistry", "ParsedDocument", "parse_xml"]

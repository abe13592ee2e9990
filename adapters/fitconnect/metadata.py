"""FIT-Connect metadata: every published version validated, then one internal model.

Versions: a schema file per version in ``schemas/fitconnect/metadata-<version>.schema.json``
(where each constraint comes from: ``schemas/fitconnect/README.md``). A metadata document
names its version in ``$schema`` (``https://schema.fitko.de/fit-connect/metadata/X.Y.Z/
metadata.schema.json``); without it, it is 1.0.0 (the documentation recommends naming 1.0.0,
the member only exists since 1.1.0 and is required from 2.0.0). The published 1.x schemas
accept every ``1.x.y`` in ``$schema``, so a minor or patch version of a known major that has
no file here is validated against the nearest earlier one of the same major -- never refused
only because its file is missing. An unknown major version is ``unsupported-schema``
(instance ``metadata``), and so is a version the destination does not announce in its
``metadataVersions``.

After validation :func:`read` turns every version into one :class:`Metadata`: the rest of the
intake has one code path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from jsonschema import Draft202012Validator

from adapters.fitconnect.problems import problem
from adapters.fitconnect.schemas import SCHEMAS_DIR, compile_schema, first_error
from gateway.case.model import Payment
from gateway.errors import ConfigurationError

DEFAULT_VERSION = "1.0.0"
SCHEMA_URI = "https://schema.fitko.de/fit-connect/metadata/{version}/metadata.schema.json"
_SCHEMA_URI = re.compile(r"^https://schema\.fitko\.de/fit-connect/metadata/(\d{1,3})\.(\d{1,3})\.(\d{1,3})"
                         r"/metadata\.schema\.json$")
SHA512_OF_NOTHING = ("cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
                     "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e")
Version = tuple[int, int, int]


def parse_version(text: str) -> Version:
    major, minor, patch = (int(p) for p in text.split("."))
    return major, minor, patch


def version_text(version: Version) -> str:
    return ".".join(map(str, version))


@dataclass(frozen=True)
class DataSpec:
    schema_uri: str
    mime_type: str
    sha512: str


@dataclass(frozen=True)
class AttachmentSpec:
    id: str
    media_type: str
    purpose: str  # form | attachment | report | data
    sha512: str
    filename: str | None = None
    description: str | None = None
    fragments: tuple[str, ...] | None = None  # fragment ids in order, when sent in fragments


@dataclass(frozen=True)
class ReplyChannelSpec:
    """The reply channel the sender offered, with everything a reply needs later."""

    kind: str  # email | demail | fink | elster | fitconnect | bundid
    address: str | None  # None for fitconnect: the reply goes back through the case
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return orjson.dumps({"kind": self.kind, "address": self.address, **self.details}).decode()


@dataclass(frozen=True)
class Metadata:
    declared_version: str  # what the document names in $schema (1.0.0 without it)
    schema_version: str  # the schema it was validated against
    data: DataSpec | None
    attachments: tuple[AttachmentSpec, ...]
    service_identifier: str | None
    service_name: str | None
    reply_channel: ReplyChannelSpec | None
    payment: Payment | None
    sender_reference: str | None

    @property
    def data_attachment(self) -> AttachmentSpec | None:
        """The attachment carrying the Fachdaten (``purpose: data``), if the data came that way."""
        found = [a for a in self.attachments if a.purpose == "data"]
        return found[0] if found else None


class MetadataSchemas:
    """The metadata schemas by version; every ``metadata-<version>.schema.json`` of a folder."""

    def __init__(self, directory: Path = SCHEMAS_DIR / "fitconnect") -> None:
        self._validators: dict[Version, Draft202012Validator] = {}
        for path in sorted(directory.glob("metadata-*.schema.json")):
            text = path.name.removeprefix("metadata-").removesuffix(".schema.json")
            schema = orjson.loads(path.read_bytes())
            if schema.get("$id") != SCHEMA_URI.format(version=text):
                raise ConfigurationError(f"{path.name}: $id does not name version {text}")
            self._validators[parse_version(text)] = compile_schema(schema)
        if parse_version(DEFAULT_VERSION) not in self._validators:
            raise ConfigurationError(f"FIT-Connect metadata schema {DEFAULT_VERSION} missing in {directory}")

    @property
    def versions(self) -> list[str]:
        return [version_text(v) for v in sorted(self._validators)]

    @property
    def majors(self) -> set[int]:
        return {v[0] for v in self._validators}

    def schema_for(self, declared: Version) -> Version:
        """The schema a declared version is validated against: its own, else the nearest earlier
        one of the same major, else the earliest of that major."""
        same = sorted(v for v in self._validators if v[0] == declared[0])
        if not same:
            raise problem("unsupported-schema", "metadata",
                          f"metadata schema major version {declared[0]} is not supported")
        earlier = [v for v in same if v <= declared]
        return earlier[-1] if earlier else same[0]

    def validate(self, document: Any, accepted: list[str] | None = None) -> tuple[str, str]:
        """Validate; return (declared version, schema version). ``accepted``: the destination's
        ``metadataVersions`` (None: every version with a schema here)."""
        if not isinstance(document, dict):
            raise problem("schema-violation", "metadata", "metadata is not a JSON object")
        declared_uri = document.get("$schema")
        if declared_uri is None:
            declared = parse_version(DEFAULT_VERSION)
        else:
            match = _SCHEMA_URI.match(declared_uri) if isinstance(declared_uri, str) else None
            if match is None:
                raise problem("unsupported-schema", "metadata", "metadata names no FIT-Connect metadata schema")
            declared = (int(match.group(1)), int(match.group(2)), int(match.group(3)))
        schema = self.schema_for(declared)
        if accepted is not None and not any(parse_version(a)[:2] == declared[:2] for a in accepted):
            raise problem("unsupported-schema", "metadata",
                          f"this destination does not accept metadata version {version_text(declared)}")
        where = first_error(self._validators[schema], document)
        if where is not None:
            raise problem("schema-violation", "metadata",
                          f"metadata violates schema {version_text(schema)} at {where}")
        return version_text(declared), version_text(schema)


# -- one model for every version ----------------------------------------------------------------


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _sha512(spec: dict[str, Any]) -> str:
    return str(spec["hash"]["content"])


FRAGMENTS_SINCE = (1, 3, 0)  # the first schema that defines ``fragments``


def _attachment(spec: dict[str, Any], schema: Version) -> AttachmentSpec:
    # ``fragments`` means something only where the schema defines it (1.3.0 and later, where it
    # needs at least one entry); an earlier version's document may carry any extra member
    fragments = spec.get("fragments") if schema >= FRAGMENTS_SINCE else None
    return AttachmentSpec(
        id=str(spec["attachmentId"]).lower(), media_type=str(spec["mimeType"]), purpose=str(spec["purpose"]),
        sha512=_sha512(spec), filename=_text(spec.get("filename")), description=_text(spec.get("description")),
        fragments=tuple(str(f).lower() for f in fragments) if isinstance(fragments, list) else None)


# member of replyChannel -> (our kind, the member holding the address); fitConnect replies go
# back through the case, so it has no address of its own
REPLY_CHANNELS: dict[str, tuple[str, str | None]] = {
    "eMail": ("email", "address"), "deMail": ("demail", "address"), "fink": ("fink", "finkPostfachRef"),
    "elster": ("elster", "accountId"), "fitConnect": ("fitconnect", None), "idBundMailbox": ("bundid", "mailboxUuid"),
}


def reply_channel(document: dict[str, Any]) -> ReplyChannelSpec | None:
    """The one reply channel of the metadata, or None for none or one we do not know.

    The published schemas allow exactly one member but do not forbid other member names: a
    channel of a later version is not an error, the case just gets no electronic reply channel.
    """
    channel = document.get("replyChannel")
    if not isinstance(channel, dict) or len(channel) != 1:
        return None
    (name, value), = channel.items()
    known = REPLY_CHANNELS.get(name)
    if known is None or not isinstance(value, dict):
        return None
    kind, member = known
    address = _text(value.get(member)) if member is not None else None
    if member is not None and address is None:
        return None
    details = {k: v for k, v in value.items() if k != member}
    return ReplyChannelSpec(kind=kind, address=address, details=details)


def payment(document: dict[str, Any]) -> Payment | None:
    info = document.get("paymentInformation")
    if not isinstance(info, dict):
        return None
    amount = info.get("grossAmount")
    return Payment(method=info["paymentMethod"], status=info["status"],
                   amount=Decimal(str(amount)) if amount is not None else None,
                   transaction_id=info["transactionId"], reference=info["transactionReference"])


def read(document: dict[str, Any], declared: str, schema: str) -> Metadata:
    """A validated metadata document of any version as the one internal model."""
    structure = document["contentStructure"]
    data = structure.get("data")
    service = document.get("publicServiceType") or document.get("publicService") or {}
    reference = document.get("additionalReferenceInfo")
    return Metadata(
        declared_version=declared, schema_version=schema,
        data=DataSpec(schema_uri=str(data["submissionSchema"]["schemaUri"]),
                      mime_type=str(data["submissionSchema"]["mimeType"]), sha512=_sha512(data))
        if isinstance(data, dict) else None,
        attachments=tuple(_attachment(a, parse_version(schema)) for a in structure.get("attachments", [])),
        service_identifier=_text(service.get("identifier")), service_name=_text(service.get("name")),
        reply_channel=reply_channel(document), payment=payment(document),
        sender_reference=_text(reference.get("senderReference")) if isinstance(reference, dict) else None)

"""Sending a submission through FIT-Connect: create, upload attachments, submit -- in API v1 or
v2, with the metadata version the destination accepts, attachments whole or in fragments.

The destination's encryption key is validated (kty, size, alg, key_ops, x5c chain to the
trust anchor, dates, key usage, n/e against the certificate) before anything is encrypted.
Used by the :class:`~adapters.fitconnect.sender.FitConnectSender`, the demo EfA sender and
the tests (which build faulty submissions on purpose through ``metadata``).

Fragments (metadata 1.3.0 and later): an attachment larger than ``fragment_bytes`` is split;
each fragment is encrypted and uploaded as an attachment of its own under its own id (the ids
are announced instead of the attachment's), the metadata lists them in order under the
attachment's ``fragments`` and hashes the whole content. Fachdaten can travel as a
``purpose: data`` attachment: ``encryptedData`` is then an empty placeholder and the data hash
the SHA-512 of zero bytes (FITKO planning issue 2250).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
from cryptography import x509
from joserfc.jwk import RSAKey

from adapters.fitconnect import jose, wire
from adapters.fitconnect.api import SubmissionApi
from adapters.fitconnect.keycheck import validate_public_jwk
from adapters.fitconnect.metadata import SCHEMA_URI, SHA512_OF_NOTHING, parse_version
from adapters.fitconnect.once import Created as Created  # re-exported: senders name it from here
from adapters.fitconnect.wire import ApiVersion
from gateway.errors import PermanentError

_FRAGMENTS = uuid.UUID("2b0f5e7c-86d1-4f0e-9a43-0c1f2d3e4b5a")
FRAGMENTS_SINCE = (1, 3, 0)


class DestinationUnusable(PermanentError):
    slug = "fitconnect-destination-unusable"
    title = "The FIT-Connect destination cannot receive this submission"


@dataclass(frozen=True)
class OutgoingAttachment:
    attachment_id: str
    filename: str
    media_type: str
    content: bytes
    purpose: str = "attachment"
    description: str | None = None
    fragment_bytes: int | None = None  # split into fragments of this size (None: the sender's default)
    sha512: str | None = None  # of ``content``, when the caller knows it (a content-addressed blob's key)

    def fragments(self, size: int) -> list[tuple[str, bytes]]:
        """(fragment id, content) in order; the ids are derived from the attachment's, so a retry
        uploads the same fragments under the same ids."""
        size = self.fragment_bytes or size
        pieces = [self.content[i: i + size] for i in range(0, len(self.content), size)] or [b""]
        return [(str(uuid.uuid5(_FRAGMENTS, f"{self.attachment_id}/{n}")), piece) for n, piece in enumerate(pieces)]


@dataclass(frozen=True)
class Target:
    """A destination's encryption key, validated."""

    kid: str
    key: RSAKey


@dataclass(frozen=True)
class Application:
    """What a sender submits: data under a schema, attachments, the service, a reply channel."""

    destination_id: str
    service_name: str
    leika: str
    schema_uri: str
    data: bytes
    attachments: list[OutgoingAttachment] = field(default_factory=list)
    reply_channel: dict[str, Any] | None = None
    sender_reference: str | None = None
    metadata_version: str = "1.1.0"
    api_version: ApiVersion = "v1"
    data_as_attachment: bool = False  # Fachdaten as a purpose: data attachment
    data_attachment_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    # a service named by another URN than a LeiKa key (the citizen postbox's message_v6, status_v6)
    service_identifier: str | None = None

    @property
    def service_urn(self) -> str:
        return self.service_identifier or f"urn:de:fim:leika:leistung:{self.leika}"

    def with_transport(self, api_version: ApiVersion, metadata_version: str) -> Application:
        return replace(self, api_version=api_version, metadata_version=metadata_version)


def hash_spec(content: bytes) -> dict[str, str]:
    return {"type": "sha512", "content": hashlib.sha512(content).hexdigest()}


def data_attachment(app: Application) -> OutgoingAttachment:
    return OutgoingAttachment(attachment_id=app.data_attachment_id,
                              filename="data.json", media_type="application/json", content=app.data,
                              purpose="data", description="Fachdatensatz als Anlage")


def all_attachments(app: Application) -> list[OutgoingAttachment]:
    return [*app.attachments, *([data_attachment(app)] if app.data_as_attachment else [])]


def uploads(app: Application, fragment_bytes: int) -> list[tuple[OutgoingAttachment, list[tuple[str, bytes]]]]:
    """Every attachment with what is uploaded for it: itself, or its fragments."""
    fragmenting = parse_version(app.metadata_version) >= FRAGMENTS_SINCE
    result = []
    for attachment in all_attachments(app):
        limit = attachment.fragment_bytes or fragment_bytes
        if fragmenting and len(attachment.content) > limit:
            result.append((attachment, attachment.fragments(limit)))
        else:
            result.append((attachment, [(attachment.attachment_id, attachment.content)]))
    return result


def metadata_for(app: Application, fragment_bytes: int = 64 * 1024 * 1024) -> dict[str, Any]:
    described = []
    for attachment, pieces in uploads(app, fragment_bytes):
        digest = {"type": "sha512", "content": attachment.sha512} if attachment.sha512 \
            else hash_spec(attachment.content)
        entry: dict[str, Any] = {"attachmentId": attachment.attachment_id, "hash": digest,
                                 "purpose": attachment.purpose, "filename": attachment.filename,
                                 "mimeType": attachment.media_type}
        if attachment.description:
            entry["description"] = attachment.description
        if pieces[0][0] != attachment.attachment_id:
            entry["fragments"] = [fragment_id for fragment_id, _ in pieces]
        described.append(entry)
    data_hash = {"type": "sha512", "content": SHA512_OF_NOTHING} if app.data_as_attachment else hash_spec(app.data)
    metadata: dict[str, Any] = {
        "$schema": SCHEMA_URI.format(version=app.metadata_version),
        "contentStructure": {
            "data": {"hash": data_hash,
                     "submissionSchema": {"schemaUri": app.schema_uri, "mimeType": "application/json"}},
            "attachments": described,
        },
        "publicServiceType": {"name": app.service_name, "identifier": app.service_urn},
    }
    if app.reply_channel:
        metadata["replyChannel"] = app.reply_channel
    if app.sender_reference:
        metadata["additionalReferenceInfo"] = {"senderReference": app.sender_reference}
    return metadata


class Outbound:
    """``target_ttl_seconds``: how long :meth:`target` may reuse what it read of a destination
    (0: read it for every submission). A sender of many submissions to one destination -- the
    citizen postbox's bridge -- reads it once a minute instead of twice per submission; a key
    the destination rotated meanwhile is still one it decrypts with during a rotation."""

    def __init__(self, api: SubmissionApi, anchors: list[x509.Certificate], registry: jose.FitConnectJWERegistry,
                 fragment_bytes: int = 64 * 1024 * 1024, target_ttl_seconds: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.api, self.anchors, self.registry, self.fragment_bytes = api, anchors, registry, fragment_bytes
        self.target_ttl_seconds, self.clock = target_ttl_seconds, clock
        self._targets: dict[tuple[str, str, str], tuple[Target, float]] = {}

    def destination(self, destination_id: str, version: ApiVersion = "v1") -> dict[str, Any]:
        destination = self.api.with_version(version).get_destination(destination_id)
        if destination.get("status") != "active":
            raise DestinationUnusable("the destination is not active")
        return destination

    def encryption_key(self, destination_id: str, version: ApiVersion = "v1") -> tuple[str, RSAKey]:
        return self._key(destination_id, version, self.destination(destination_id, version))

    def _key(self, destination_id: str, version: ApiVersion, destination: dict[str, Any]) -> tuple[str, RSAKey]:
        kid = str(destination.get("encryptionKid"))
        return kid, validate_public_jwk(self.api.with_version(version).get_destination_key(destination_id, kid),
                                        "encryption", self.anchors)

    def check_metadata_version(self, app: Application, destination: dict[str, Any] | None = None) -> None:
        """The destination must announce the metadata version (major and minor) we send."""
        destination = destination or self.destination(app.destination_id, app.api_version)
        announced = destination.get("metadataVersions")
        wanted = parse_version(app.metadata_version)[:2]
        if isinstance(announced, list) and not any(
                isinstance(v, str) and v.count(".") == 2 and v.replace(".", "").isdigit()
                and parse_version(v)[:2] == wanted for v in announced):
            raise DestinationUnusable("the destination does not accept this metadata version")

    def target(self, app: Application) -> Target:
        """The destination as it is now, read once: active, announcing our metadata version, and
        its encryption key validated -- everything checked before anything remote is created."""
        cache_key = (app.destination_id, app.api_version, app.metadata_version)
        known = self._targets.get(cache_key)
        if known is not None and known[1] > self.clock():
            return known[0]
        destination = self.destination(app.destination_id, app.api_version)
        self.check_metadata_version(app, destination)
        target = Target(*self._key(app.destination_id, app.api_version, destination))
        if self.target_ttl_seconds > 0:
            self._targets[cache_key] = (target, self.clock() + self.target_ttl_seconds)
        return target

    def create(self, app: Application) -> Created:
        """A new submission in a new case: the Zustelldienst assigns both ids."""
        announced = [upload_id for _, pieces in uploads(app, self.fragment_bytes) for upload_id, _ in pieces]
        body: dict[str, Any] = {
            "destinationId": app.destination_id, "announcedAttachments": announced,
            **wire.announced_service(app.api_version, app.service_urn, app.service_name),
        }
        created = self.api.with_version(app.api_version).create_submission(body)
        return Created(submission_id=str(created["submissionId"]), case_id=str(created["caseId"]))

    def upload_and_submit(self, app: Application, created: Created, metadata: dict[str, Any] | None = None,
                          target: Target | None = None) -> None:
        """Encrypt and upload; ``metadata`` replaces the generated one (tests build faulty ones);
        ``target``: the destination's key as :meth:`target` just read it (else read now)."""
        api = self.api.with_version(app.api_version)
        kid, key = (target.kid, target.key) if target is not None else \
            self.encryption_key(app.destination_id, app.api_version)
        for attachment, pieces in uploads(app, self.fragment_bytes):
            for upload_id, piece in pieces:
                token = jose.encrypt(piece, key, kid, attachment.media_type, self.registry)
                api.upload_attachment(created.submission_id, upload_id, token.encode("ascii"))
        document = metadata or metadata_for(app, self.fragment_bytes)
        encrypted_metadata = jose.encrypt(orjson.dumps(document), key, kid, "application/json", self.registry)
        encrypted_data = "" if app.data_as_attachment else \
            jose.encrypt(app.data, key, kid, "application/json", self.registry)
        api.submit(created.submission_id, {"encryptedMetadata": encrypted_metadata, "encryptedData": encrypted_data})

    def send(self, app: Application) -> Created:
        target = self.target(app)  # refuse before creating anything remote
        created = self.create(app)
        self.upload_and_submit(app, created, target=target)
        return created

"""Sending a submission through FIT-Connect: create, upload attachments, submit.

The destination's encryption key is validated (kty, size, alg, key_ops, x5c chain to the
trust anchor, dates, key usage, n/e against the certificate) before anything is encrypted.
Used by the :class:`~adapters.fitconnect.sender.FitConnectSender` and the demo EfA sender.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson
from cryptography import x509
from joserfc.jwk import RSAKey

from adapters.fitconnect import jose
from adapters.fitconnect.api import SubmissionApi
from adapters.fitconnect.keycheck import validate_public_jwk
from gateway.errors import PermanentError

METADATA_SCHEMA = "https://schema.fitko.de/fit-connect/metadata/1.1.0/metadata.schema.json"


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


@dataclass(frozen=True)
class Created:
    submission_id: str
    case_id: str


def hash_spec(content: bytes) -> dict[str, str]:
    return {"type": "sha512", "content": hashlib.sha512(content).hexdigest()}


def metadata_for(app: Application) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "$schema": METADATA_SCHEMA,
        "contentStructure": {
            "data": {"hash": hash_spec(app.data),
                     "submissionSchema": {"schemaUri": app.schema_uri, "mimeType": "application/json"}},
            "attachments": [
                {"attachmentId": a.attachment_id, "hash": hash_spec(a.content), "purpose": a.purpose,
                 "filename": a.filename, "mimeType": a.media_type,
                 **({"description": a.description} if a.description else {})}
                for a in app.attachments
            ],
        },
        "publicServiceType": {"name": app.service_name, "identifier": f"urn:de:fim:leika:leistung:{app.leika}"},
    }
    if app.reply_channel:
        metadata["replyChannel"] = app.reply_channel
    if app.sender_reference:
        metadata["additionalReferenceInfo"] = {"senderReference": app.sender_reference}
    return metadata


class Outbound:
    def __init__(self, api: SubmissionApi, anchors: list[x509.Certificate],
                 registry: jose.FitConnectJWERegistry) -> None:
        self.api, self.anchors, self.registry = api, anchors, registry

    def encryption_key(self, destination_id: str) -> tuple[str, RSAKey]:
        destination = self.api.get_destination(destination_id)
        if destination.get("status") != "active":
            raise DestinationUnusable("the destination is not active")
        kid = str(destination.get("encryptionKid"))
        return kid, validate_public_jwk(self.api.get_destination_key(destination_id, kid), "encryption",
                                        self.anchors)

    def create(self, app: Application) -> Created:
        """A new submission in a new case: the Zustelldienst assigns both ids."""
        body: dict[str, Any] = {
            "destinationId": app.destination_id,
            "announcedAttachments": [a.attachment_id for a in app.attachments],
            "serviceType": {"name": app.service_name, "identifier": f"urn:de:fim:leika:leistung:{app.leika}"},
        }
        created = self.api.create_submission(body)
        return Created(submission_id=str(created["submissionId"]), case_id=str(created["caseId"]))

    def upload_and_submit(self, app: Application, created: Created, metadata: dict[str, Any] | None = None) -> None:
        """Encrypt and upload; ``metadata`` replaces the generated one (tests build faulty ones)."""
        kid, key = self.encryption_key(app.destination_id)
        for attachment in app.attachments:
            token = jose.encrypt(attachment.content, key, kid, attachment.media_type, self.registry)
            self.api.upload_attachment(created.submission_id, attachment.attachment_id, token)
        encrypted_metadata = jose.encrypt(orjson.dumps(metadata or metadata_for(app)), key, kid, "application/json",
                                          self.registry)
        encrypted_data = jose.encrypt(app.data, key, kid, "application/json", self.registry)
        self.api.submit(created.submission_id, {"encryptedMetadata": encrypted_metadata,
                                                "encryptedData": encrypted_data})

    def send(self, app: Application) -> Created:
        self.encryption_key(app.destination_id)  # refuse before creating anything remote
        created = self.create(app)
        self.upload_and_submit(app, created)
        return created

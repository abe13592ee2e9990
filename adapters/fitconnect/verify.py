"""Verification of one fetched submission, in the order the FIT-Connect documentation asks for:

1. the event log: every SET checked (:mod:`.events`); the Zustelldienst's latest
   ``submit-submission`` or ``notify-submission`` for this submission is the one that counts,
2. its authentication tags against every fetched JWE (metadata, data, each attachment or
   fragment by its own id),
3. decrypt metadata, validate it against the schema of its version, read it into the model,
4. attachments: announced = described in the metadata (fragments by their ids) = fetched,
   within the destination's limits,
5. data -- inline, or from the ``purpose: data`` attachment -- and every attachment: decrypt
   (attachments streamed into the blob store, fragments joined in order) and compare their
   SHA-512 with the metadata before the blob is published,
6. data against its declared submission schema, service against the destination.

Every failure raises the gateway error that carries the matching FIT-Connect problem; the
attachment being written is discarded then, nothing is handed to the core.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import orjson

from adapters.fitconnect import content, jose
from adapters.fitconnect.events import Event, EventVerifier, unverified_claims
from adapters.fitconnect.keys import DestinationKeys
from adapters.fitconnect.metadata import (
    SHA512_OF_NOTHING,
    AttachmentSpec,
    Metadata,
    MetadataSchemas,
    ReplyChannelSpec,
    read,
)
from adapters.fitconnect.options import DestinationOptions, FitConnectOptions
from adapters.fitconnect.parts import Manifest, Parts
from adapters.fitconnect.problems import problem
from adapters.fitconnect.schemas import DataSchemaRegistry, check_data
from gateway.case.model import ReplyChannel
from gateway.errors import TransientError
from gateway.ports import BlobStore, VerifiedAttachment, VerifiedSubmission

SUBMITTED = ("submit-submission", "notify-submission")


@dataclass
class Verifier:
    options: FitConnectOptions
    keys: dict[str, DestinationKeys]
    events: EventVerifier
    metadata_schemas: MetadataSchemas
    data_schemas: DataSchemaRegistry
    registries: content.Registries
    blobs: BlobStore

    def verify(self, manifest: Manifest) -> VerifiedSubmission:
        destination = self.options.destination(manifest.destination_id)
        keys = self.keys.get(manifest.destination_id)
        if destination is None or keys is None:
            raise problem("technical-error", "submission", "the submission is for a destination not served here")
        parts = Parts(manifest, self.blobs)
        limits = self.options.limits
        sub = _json_object(parts.small("submission", limits.max_data_bytes + limits.max_metadata_bytes))
        if (sub.get("submissionId"), sub.get("caseId"), sub.get("destinationId")) != (
                manifest.submission_id, manifest.case_id, manifest.destination_id):
            raise problem("technical-error", "submission", "submission identifiers are inconsistent")
        encrypted_metadata = sub.get("encryptedMetadata")
        if not isinstance(encrypted_metadata, str) or not encrypted_metadata:
            raise problem("missing-data", "metadata", "the submission has no metadata")
        encrypted_data = sub.get("encryptedData")
        if encrypted_data is not None and not isinstance(encrypted_data, str):
            raise problem("syntax-violation", "data", "the encrypted data is not a compact JWE")
        announced = _announced(sub)
        tags = self.submitted_tags(manifest, parts)
        self.check_fetched(manifest, announced, destination)
        attachment_tags = {aid: part.tag or "" for aid, part in manifest.attachments.items() if aid in announced}
        check_tags(tags, encrypted_metadata, encrypted_data or None, attachment_tags)

        document = content.parse_json(content.decrypt(encrypted_metadata, keys, self.registries.metadata,
                                                      "metadata"), "metadata")
        declared, schema = self.metadata_schemas.validate(document, destination.metadata_versions)
        metadata = read(document, declared, schema)
        content.check_attachment_list(metadata, announced, destination.limits)

        schema_uri, data = self.data(metadata, encrypted_data, manifest, parts, keys, destination)
        attachments = [self.attachment(spec, manifest, parts, keys, destination)
                       for spec in metadata.attachments if spec.purpose != "data"]
        leika = content.service_leika(metadata, sub, destination.services)
        return VerifiedSubmission(
            tenant_ars=destination.tenant_ars,
            source_format=f"fim:{schema_uri}",
            data=data,
            data_media_type="application/json",
            service_leika=leika,
            attachments=attachments,
            reply_channel=case_reply_channel(metadata.reply_channel, manifest),
            payment=metadata.payment,
            submitted_at=dt.datetime.fromtimestamp(tags.issued_at, dt.UTC),
            references=references(manifest, metadata),
        )

    # -- event log and what was fetched -----------------------------------------------------
    def submitted_tags(self, manifest: Manifest, parts: Parts) -> Event:
        """The Zustelldienst's verified, latest submit-submission or notify-submission event."""
        log = _event_log(parts.small("eventLog", 16 * 1024 * 1024))
        candidates = []
        for token in log[: self.options.limits.max_events]:
            try:
                claims = unverified_claims(token)
            except jose.JoseFailure:
                continue
            events = claims.get("events")
            if claims.get("sub") == f"submission:{manifest.submission_id}" and isinstance(events, dict) \
                    and any(uri.rsplit("/", 1)[-1] in SUBMITTED for uri in events):
                candidates.append(token)
        if not candidates:
            raise problem("invalid-event-log", "submission", "no submit-submission event for this submission")
        verified = []
        for token in candidates:
            try:
                event = self.events.verify(token)
            except jose.JoseFailure:
                raise problem("invalid-event-log", "submission",
                              "an event of the Zustelldienst is not signed by it or does not fit its type") from None
            except TransientError:
                raise
            if event.issuer != self.events.issuer or event.case_id != manifest.case_id \
                    or event.name not in SUBMITTED:
                raise problem("invalid-event-log", "submission", "the submit-submission event does not match")
            verified.append(event)
        # the newest announcement counts (notify after submit: its tags); log order breaks ties
        return max(enumerate(verified), key=lambda found: (found[1].issued_at, found[0]))[1]

    def check_fetched(self, manifest: Manifest, announced: list[str], destination: DestinationOptions) -> None:
        if len(announced) > self.options.limits.max_attachments:
            raise problem("technical-error", "submission",
                          f"the submission has more than {self.options.limits.max_attachments} attachments")
        fetched = manifest.attachments
        total = sum(p.size for p in manifest.parts)
        for aid in announced:
            part = fetched.get(aid)
            if part is not None and part.missing == "over-total":
                total = destination.limits.max_total_bytes + 1
            elif part is not None and part.missing == "too-large":
                raise problem("technical-error", f"attachment:{aid}",
                              f"the attachment exceeds the limit of {self.options.limits.max_attachment_bytes} bytes")
            elif part is None or part.missing is not None:
                raise problem("missing-attachment", f"attachment:{aid}", "an announced attachment is missing")
        if total > destination.limits.max_total_bytes:
            raise problem("technical-error", "submission",
                          f"the submission exceeds this destination's limit of {destination.limits.max_total_bytes}"
                          " bytes")

    # -- content ----------------------------------------------------------------------------
    def data(self, metadata: Metadata, encrypted_data: Any, manifest: Manifest, parts: Parts,
             keys: DestinationKeys, destination: DestinationOptions) -> tuple[str, bytes]:
        """The Fachdaten: inline, or -- when larger than the data field takes -- from the
        ``purpose: data`` attachment (then ``encryptedData`` is an empty placeholder and the
        data hash the SHA-512 of zero bytes); decrypted, hash-checked, schema-checked."""
        spec = metadata.data
        if spec is None:
            raise problem("missing-data", "data", "the metadata describes no data")
        schema = self.data_schemas.get(spec.schema_uri)
        if schema is None or schema.mime_type != spec.mime_type:
            raise problem("unsupported-schema", "data", "the declared submission schema is not supported")
        carrier = metadata.data_attachment
        if carrier is None:
            if not encrypted_data:
                raise problem("missing-data", "data", "the submission carries no data")
            plain = content.open_inline_data(encrypted_data, metadata, keys, self.registries.data)
        else:
            if encrypted_data or not content.same(spec.sha512, SHA512_OF_NOTHING):
                raise problem("hash-mismatch", "data",
                              "data sent as an attachment needs an empty data placeholder and its hash")
            if carrier.media_type != spec.mime_type:
                raise problem("attachments-mismatch", "metadata", "the data attachment's type differs from the data's")
            # parsed and mapped like inline data, so held in memory: capped by max_data_attachment_bytes
            plain = content.read_attachment(carrier, manifest, parts, keys, self.registries.attachment,
                                            min(destination.limits.max_attachment_bytes,
                                                self.options.limits.max_data_attachment_bytes))
        check_data(schema, content.parse_json(plain, "data"))
        return schema.uri, plain

    def attachment(self, spec: AttachmentSpec, manifest: Manifest, parts: Parts, keys: DestinationKeys,
                   destination: DestinationOptions) -> VerifiedAttachment:
        stored = content.store_attachment(spec, manifest, parts, keys, self.registries.attachment,
                                          destination.limits.max_attachment_bytes, self.blobs)
        return VerifiedAttachment(
            id=spec.id, filename=spec.filename or spec.id, media_type=spec.media_type, stored=stored,
            purpose=spec.purpose, description=spec.description, declared_sha512=spec.sha512)


def check_tags(event: Event, metadata: str, data: str | None, attachments: dict[str, str]) -> None:
    """Authentication tags from the SET against the last segment of every fetched JWE."""
    tags = event.details.get("authenticationTags")
    if not isinstance(tags, dict):
        raise problem("invalid-event-log", "submission", "the submit-submission event has no authentication tags")
    _same(tags.get("metadata"), jose.authentication_tag(metadata), "metadata")
    if data is not None:
        _same(tags.get("data"), jose.authentication_tag(data), "data")
    elif tags.get("data"):
        raise problem("incorrect-authentication-tag", "data", "the event log names data the submission lacks")
    expected = tags.get("attachments") or {}
    if not isinstance(expected, dict) or set(expected) != set(attachments):
        raise problem("incorrect-authentication-tag", "submission",
                      "the attachments in the event log differ from the fetched attachments")
    for aid, tag in attachments.items():
        _same(expected.get(aid), tag, f"attachment:{aid}")


def _same(expected: object, actual: str, instance: str) -> None:
    if not isinstance(expected, str) or not content.same(expected, actual):
        raise problem("incorrect-authentication-tag", instance, "authentication tag does not match the event log")


def case_reply_channel(spec: ReplyChannelSpec | None, manifest: Manifest) -> ReplyChannel | None:
    """The case's reply channel; its details (keys, process standards) go to the references."""
    if spec is None:
        return None
    if spec.kind == "fitconnect":  # the answer goes back through the case in the Zustelldienst
        return ReplyChannel(kind="fitconnect", address=f"{manifest.destination_id}/{manifest.case_id}")
    if spec.kind == "bundid":
        return ReplyChannel(kind="postbox", address=f"bundid:{spec.address}")
    assert spec.address is not None
    return ReplyChannel.model_validate({"kind": spec.kind, "address": spec.address})


def references(manifest: Manifest, metadata: Metadata) -> dict[str, str]:
    found = {"submissionId": manifest.submission_id, "caseId": manifest.case_id,
             "destinationId": manifest.destination_id, "apiVersion": manifest.api_version,
             "metadataVersion": metadata.declared_version, "metadataSchemaVersion": metadata.schema_version}
    if metadata.reply_channel is not None:
        found["replyChannel"] = metadata.reply_channel.to_json()
    if metadata.sender_reference is not None:
        found["senderReference"] = metadata.sender_reference[:200]
    return found


def _announced(submission: dict[str, Any]) -> list[str]:
    value = submission.get("attachments") or []
    return [str(a).lower() for a in value] if isinstance(value, list) else []


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise problem("syntax-violation", "submission", "the submission document is not a JSON object")
    return value


def _event_log(raw: bytes) -> list[str]:
    try:
        value = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        value = None
    log = value.get("eventLog") if isinstance(value, dict) else None
    return [str(token) for token in log] if isinstance(log, list) else []

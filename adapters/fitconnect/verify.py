"""Verification of one fetched submission, in the order the FIT-Connect documentation asks for:

1. the Zustelldienst's ``submit-submission`` SET (signature, issuer, subject, case),
2. its authentication tags against every fetched JWE (metadata, data, each attachment),
3. decrypt metadata, validate it against the metadata schema of its version,
4. attachments: announced = described in the metadata = fetched,
5. decrypt data and attachments and compare their SHA-512 with the metadata,
6. data against its declared submission schema, service against the destination.

Every failure raises the gateway error that carries the matching FIT-Connect problem.
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass
from typing import Any

from adapters.fitconnect import content, jose
from adapters.fitconnect.bundle import Bundle
from adapters.fitconnect.events import Event, EventVerifier, unverified_claims
from adapters.fitconnect.keys import DestinationKeys
from adapters.fitconnect.options import FitConnectOptions
from adapters.fitconnect.problems import problem
from adapters.fitconnect.schemas import DataSchemaRegistry, MetadataSchemas
from gateway.errors import TransientError
from gateway.ports import VerifiedSubmission


@dataclass
class Verifier:
    options: FitConnectOptions
    keys: dict[str, DestinationKeys]
    events: EventVerifier
    metadata_schemas: MetadataSchemas
    data_schemas: DataSchemaRegistry
    registries: content.Registries

    def verify(self, bundle: Bundle) -> VerifiedSubmission:
        destination = self.options.destination(bundle.destination_id)
        keys = self.keys.get(bundle.destination_id)
        if destination is None or keys is None:
            raise problem("technical-error", "submission", "the submission is for a destination not served here")
        sub = bundle.submission
        if (sub.get("submissionId"), sub.get("caseId"), sub.get("destinationId")) != (
                bundle.submission_id, bundle.case_id, bundle.destination_id):
            raise problem("technical-error", "submission", "submission identifiers are inconsistent")
        encrypted_metadata = bundle.encrypted_metadata
        if encrypted_metadata is None:
            raise problem("missing-data", "metadata", "the submission has no metadata")
        submitted = self.submit_event(bundle)
        announced = bundle.announced_attachments
        for aid in announced:
            if bundle.attachments.get(aid) is None:
                raise problem("missing-attachment", f"attachment:{aid}", "an announced attachment is missing")
        fetched = bundle.fetched_attachments()
        check_tags(submitted.details.get("authenticationTags"), encrypted_metadata, bundle.encrypted_data, fetched)

        metadata = content.decrypt_json(encrypted_metadata, keys, self.registries.metadata, "metadata")
        version = self.metadata_schemas.validate(metadata)
        structure = metadata["contentStructure"]
        described = content.check_attachment_list(structure.get("attachments", []), announced)
        attachments = [content.open_attachment(fetched[aid], described[aid], keys, self.registries.attachment)
                       for aid in announced]
        data_spec = structure.get("data")
        if data_spec is None or bundle.encrypted_data is None:
            raise problem("missing-data", "data", "the submission carries no data")
        schema_uri, data = content.open_data(bundle.encrypted_data, data_spec, keys, self.registries.data,
                                             self.data_schemas)
        leika = content.service_leika(metadata, sub, destination.services)
        return VerifiedSubmission(
            tenant_ars=destination.tenant_ars,
            source_format=f"fim:{schema_uri}",
            data=data,
            data_media_type="application/json",
            service_leika=leika,
            attachments=attachments,
            reply_channel=content.reply_channel(metadata),
            payment=content.payment(metadata),
            submitted_at=dt.datetime.fromtimestamp(submitted.issued_at, dt.UTC),
            references={"submissionId": bundle.submission_id, "caseId": bundle.case_id,
                        "destinationId": bundle.destination_id, "metadataVersion": version},
        )

    def submit_event(self, bundle: Bundle) -> Event:
        """The Zustelldienst's verified submit-submission SET for this submission."""
        candidates = []
        for token in bundle.event_log[: self.options.limits.max_events]:
            try:
                claims = unverified_claims(token)
            except jose.JoseFailure:
                continue
            events = claims.get("events")
            if claims.get("sub") == f"submission:{bundle.submission_id}" and isinstance(events, dict) \
                    and "https://schema.fitko.de/fit-connect/events/submit-submission" in events:
                candidates.append(token)
        if not candidates:
            raise problem("invalid-event-log", "submission", "no submit-submission event for this submission")
        for token in candidates:
            try:
                event = self.events.verify(token)
            except jose.JoseFailure:
                raise problem("invalid-event-log", "submission",
                              "the submit-submission event is not signed by the Zustelldienst") from None
            except TransientError:
                raise
            if event.issuer != self.events.issuer or event.case_id != bundle.case_id \
                    or event.name != "submit-submission":
                raise problem("invalid-event-log", "submission", "the submit-submission event does not match")
            return event
        raise AssertionError("unreachable")  # pragma: no cover


def check_tags(tags: Any, metadata: str, data: str | None, attachments: dict[str, bytes]) -> None:
    """Authentication tags from the SET against the last segment of every fetched JWE."""
    if not isinstance(tags, dict):
        raise problem("invalid-event-log", "submission", "the submit-submission event has no authentication tags")
    _same(tags.get("metadata"), metadata, "metadata")
    if data is not None:
        _same(tags.get("data"), data, "data")
    expected = tags.get("attachments") or {}
    if not isinstance(expected, dict) or set(expected) != set(attachments):
        raise problem("incorrect-authentication-tag", "submission",
                      "the attachments in the event log differ from the fetched attachments")
    for aid, token in attachments.items():
        _same(expected.get(aid), token, f"attachment:{aid}")


def _same(expected: object, token: str | bytes, instance: str) -> None:
    actual = jose.authentication_tag(token)
    if not isinstance(expected, str) or not hmac.compare_digest(expected.encode(), actual.encode()):
        raise problem("incorrect-authentication-tag", instance, "authentication tag does not match the event log")

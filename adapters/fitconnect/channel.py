"""The FIT-Connect channel as the core sees it: verify, acknowledge (accept), reject.

``acknowledge`` and ``reject`` run from the core's outbox, possibly again after a crash:
both first read the submission's event log and do nothing when this destination has already
decided on the submission, so a submission is never accepted twice (nor accepted after a
reject). Only the destination's own, signature-checked decisions count. Each submission is
answered in the API generation it was fetched with (the manifest names it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import orjson

from adapters.fitconnect import jose
from adapters.fitconnect.api import SubmissionApi
from adapters.fitconnect.events import Event, EventVerifier, authentication_tags, build_set, unverified_claims
from adapters.fitconnect.keys import DestinationKeys
from adapters.fitconnect.parts import Manifest, Parts
from adapters.fitconnect.problems import problem_for
from adapters.fitconnect.verify import Verifier
from gateway.errors import PermanentError, Problem
from gateway.ports import BlobStore, CommittedCase, InboundMessage, VerifiedSubmission

log = logging.getLogger(__name__)

DECISIONS = ("accept-submission", "reject-submission")


class AlreadyRejected(PermanentError):
    slug = "fitconnect-already-rejected"
    title = "The submission was rejected earlier and cannot be accepted"


@dataclass
class FitConnectChannel:
    verifier: Verifier
    api: SubmissionApi
    events: EventVerifier
    keys: dict[str, DestinationKeys]
    blobs: BlobStore
    name: str = "fitconnect"

    def verify(self, message: InboundMessage) -> VerifiedSubmission:
        return self.verifier.verify(Manifest.from_bytes(message.payload))

    def acknowledge(self, message: InboundMessage, case: CommittedCase) -> None:
        manifest = Manifest.from_bytes(message.payload)
        decided = self._decision(manifest)
        if decided == "accept-submission":
            return  # accepted before a crash or a lost response: never twice
        if decided == "reject-submission":
            raise AlreadyRejected("this destination rejected the submission earlier")
        self._api(manifest).post_event(manifest.case_id, manifest.submission_id, self.accept_token(manifest))
        log.info("accepted FIT-Connect submission %s (case %s)", manifest.submission_id, case.reference)

    def reject(self, message: InboundMessage, problem: Problem) -> None:
        """Post reject-submission with the FIT-Connect problem for the core's stored ``problem``."""
        manifest = self._manifest_or_references(message)
        if self._decision(manifest) is not None:
            return
        found = problem_for(problem)
        token = self._token(manifest, "reject-submission", {"problems": [found]})
        self._api(manifest).post_event(manifest.case_id, manifest.submission_id, token)
        log.info("rejected FIT-Connect submission %s: %s", manifest.submission_id, found["type"])

    def accept_token(self, manifest: Manifest) -> str:
        """The signed accept-submission SET: the authentication tags of every JWE fetched (each
        fragment by its own id, as the Zustelldienst's submit event names them)."""
        raw = Parts(manifest, self.blobs).small("submission", 64 * 1024 * 1024)
        submission = orjson.loads(raw)
        metadata, data = submission["encryptedMetadata"], submission.get("encryptedData") or None
        attachment_tags = {aid: part.tag for aid, part in manifest.attachments.items() if part.tag is not None}
        tags = authentication_tags(metadata, data, attachment_tags)
        return self._token(manifest, "accept-submission", {"authenticationTags": tags})

    # -----------------------------------------------------------------------------------
    def _api(self, manifest: Manifest) -> SubmissionApi:
        return self.api.with_version(manifest.api_version)

    def _token(self, manifest: Manifest, name: str, details: dict[str, object]) -> str:
        signing = self.keys[manifest.destination_id].signing
        return build_set(name, manifest.destination_id, manifest.submission_id, manifest.case_id, details, signing)

    def _decision(self, manifest: Manifest) -> str | None:
        """This destination's earlier accept/reject of the submission, if any."""
        for token in self._api(manifest).get_events(manifest.case_id, manifest.submission_id):
            event = self._own_event(token, manifest)
            if event is not None and event.name in DECISIONS:
                return event.name
        return None

    def _own_event(self, token: str, manifest: Manifest) -> Event | None:
        try:
            claims = unverified_claims(token)
            if claims.get("iss") != manifest.destination_id \
                    or claims.get("sub") != f"submission:{manifest.submission_id}":
                return None  # cheap filter: only our own events need a signature check
            event = self.events.verify(token)
        except jose.JoseFailure:
            return None  # forged: it cannot stand for our decision
        return event

    @staticmethod
    def _manifest_or_references(message: InboundMessage) -> Manifest:
        try:
            return Manifest.from_bytes(message.payload)
        except PermanentError:
            # Even an unreadable original can be rejected: the ids are in the inbox row.
            refs = message.references
            version = refs.get("apiVersion", "v1")
            return Manifest(api_version="v2" if version == "v2" else "v1", destination_id=refs["destinationId"],
                            submission_id=message.source_id, case_id=refs["caseId"], fetched_at="")

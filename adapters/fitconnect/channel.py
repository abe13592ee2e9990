"""The FIT-Connect channel as the core sees it: verify, acknowledge (accept), reject.

``acknowledge`` and ``reject`` run from the core's outbox, possibly again after a crash:
both first read the case's event log and do nothing when this destination has already
decided on the submission, so a submission is never accepted twice (nor accepted after a
reject). Only the destination's own, signature-checked decisions count.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from adapters.fitconnect import jose
from adapters.fitconnect.api import SubmissionApi
from adapters.fitconnect.bundle import Bundle
from adapters.fitconnect.events import Event, EventVerifier, authentication_tags, build_set, unverified_claims
from adapters.fitconnect.keys import DestinationKeys
from adapters.fitconnect.problems import problem_for
from adapters.fitconnect.verify import Verifier
from gateway.errors import PermanentError, Problem
from gateway.ports import CommittedCase, InboundMessage, VerifiedSubmission

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
    name: str = "fitconnect"

    def verify(self, message: InboundMessage) -> VerifiedSubmission:
        return self.verifier.verify(Bundle.from_bytes(message.payload))

    def acknowledge(self, message: InboundMessage, case: CommittedCase) -> None:
        bundle = Bundle.from_bytes(message.payload)
        decided = self._decision(bundle)
        if decided == "accept-submission":
            return  # accepted before a crash or a lost response: never twice
        if decided == "reject-submission":
            raise AlreadyRejected("this destination rejected the submission earlier")
        self.api.post_event(bundle.case_id, self.accept_token(bundle))
        log.info("accepted FIT-Connect submission %s (case %s)", bundle.submission_id, case.reference)

    def reject(self, message: InboundMessage, problem: Problem) -> None:
        bundle = self._bundle_or_references(message)
        if self._decision(bundle) is not None:
            return
        found = problem_for(problem)
        self._post(bundle, "reject-submission", {"problems": [found]})
        log.info("rejected FIT-Connect submission %s: %s", bundle.submission_id, found["type"])

    def accept_token(self, bundle: Bundle) -> str:
        """The signed accept-submission SET (the CPU part of acknowledge, no I/O)."""
        metadata = bundle.encrypted_metadata
        assert metadata is not None, "acknowledge runs only after a successful verify"
        tags = authentication_tags(metadata, bundle.encrypted_data, bundle.fetched_attachments())
        return self._token(bundle, "accept-submission", {"authenticationTags": tags})

    # -----------------------------------------------------------------------------------
    def _token(self, bundle: Bundle, name: str, details: dict[str, object]) -> str:
        signing = self.keys[bundle.destination_id].signing
        return build_set(name, bundle.destination_id, bundle.submission_id, bundle.case_id, details, signing)

    def _post(self, bundle: Bundle, name: str, details: dict[str, object]) -> None:
        self.api.post_event(bundle.case_id, self._token(bundle, name, details))

    def _decision(self, bundle: Bundle) -> str | None:
        """This destination's earlier accept/reject of the submission, if any."""
        for token in self.api.get_events(bundle.case_id):
            event = self._own_event(token, bundle)
            if event is not None and event.name in DECISIONS:
                return event.name
        return None

    def _own_event(self, token: str, bundle: Bundle) -> Event | None:
        try:
            claims = unverified_claims(token)
            if claims.get("iss") != bundle.destination_id \
                    or claims.get("sub") != f"submission:{bundle.submission_id}":
                return None  # cheap filter: only our own events need a signature check
            event = self.events.verify(token)
        except jose.JoseFailure:
            return None  # forged: it cannot stand for our decision
        return event

    @staticmethod
    def _bundle_or_references(message: InboundMessage) -> Bundle:
        try:
            return Bundle.from_bytes(message.payload)
        except PermanentError:
            # Even an unreadable original can be rejected: the ids are in the inbox row.
            refs = message.references
            return Bundle(destination_id=refs["destinationId"], submission_id=message.source_id,
                          case_id=refs["caseId"], submission_raw=b"{}", attachments={}, events_raw=b"{}",
                          fetched_at="")

"""Sender port: forwards a case to another authority's FIT-Connect destination.

Idempotent per ``(case.id, destination)`` across processes and hosts: the remote ids live
in the gateway's database (``ctx.state``, namespace ``fitconnect.sender``), written right
after the submission is created and before anything is uploaded. The first process to
record a submission wins (``StateStore.add``); a process that created one concurrently
leaves its own *incomplete* and continues the recorded one, so a case is submitted to a
destination at most once. Called again after a crash, ``send`` continues the recorded
submission (or, if the event log shows it was submitted, only reports it).

Residual window: a crash (or a database failure) between the create call and the state
write leaves one *incomplete* submission behind, which is never delivered and which the
Zustelldienst deletes after its retention period; the retry creates a new one. It cannot
be found again: the Zustelldienst assigns the ``caseId`` (a ``caseId`` sent with the create
call must name an *existing* case, so a deterministic one is not possible) and a sender
cannot list its submissions.

Targets: a destination id, or ``ars:<ARS>`` when no destination id is configured for the
authority -- then the Routing API names the destination for the case's LeiKa key and the
ARS, its ``destinationSignature`` verified (:mod:`.routing`). The API generation and the
metadata version come from ``options.forwarding`` (per destination where it differs).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from adapters.fitconnect import jose
from adapters.fitconnect.api import SubmissionApi
from adapters.fitconnect.events import Event, EventVerifier, is_uuid, status_of
from adapters.fitconnect.once import Created, Once
from adapters.fitconnect.options import ForwardingOptions
from adapters.fitconnect.outbound import Application, DestinationUnusable, Outbound, OutgoingAttachment, Target
from adapters.fitconnect.routing import RoutingApi
from adapters.fitconnect.wire import ApiVersion
from gateway.case.model import Case
from gateway.errors import PermanentError
from gateway.ports import BlobStore, Forwarding, StateStore

CASE_SCHEMA_URI = "https://rathaus-gateway.de/schemas/case-v1.schema.json"
STATE_NAMESPACE = "fitconnect.sender"
_ATTACHMENT_NAMESPACE = uuid.UUID("8f4c1a3e-6d0b-4c8e-9a55-3f0f7d1e2b60")
SUBMITTED_EVENTS = {"submit-submission", "notify-submission", "forward-submission", "accept-submission",
                    "reject-submission"}


class SubmissionGone(PermanentError):
    slug = "fitconnect-submission-gone"
    title = "The recorded FIT-Connect submission no longer exists"


def application_for(case: Case, target: str, blobs: BlobStore, api_version: ApiVersion = "v1",
                    metadata_version: str = "1.1.0") -> Application:
    """The case itself (case format v1) as data, its attachments as attachments."""
    attachments = [
        OutgoingAttachment(attachment_id=str(uuid.uuid5(_ATTACHMENT_NAMESPACE, f"{case.id}/{a.id}")),
                           filename=a.filename, media_type=a.media_type, content=blobs.get(a.storage_key),
                           purpose=a.purpose, description=a.description)
        for a in case.attachments
    ]
    reply = None
    if case.reply_channel is not None and case.reply_channel.kind == "email":
        reply = {"eMail": {"address": case.reply_channel.address}}
    return Application(destination_id=target, service_name=case.service.name, leika=case.service.leika,
                       schema_uri=CASE_SCHEMA_URI, data=case.model_dump_json().encode(), attachments=attachments,
                       reply_channel=reply, sender_reference=case.reference, api_version=api_version,
                       metadata_version=metadata_version)


class SubmissionSteps:
    """The steps of :class:`~adapters.fitconnect.once.Once` for one submission of an
    application -- built only when needed (``make``): a repeated call that finds the submission
    submitted only reads the event log, with ``api_version``."""

    def __init__(self, outbound: Outbound, events: EventVerifier, make: Callable[[], Application],
                 api_version: ApiVersion) -> None:
        self.outbound, self.events, self.make, self.api_version = outbound, events, make, api_version
        self.target: Target | None = None
        self._app: Application | None = None

    @property
    def app(self) -> Application:
        if self._app is None:
            self._app = self.make()
        return self._app

    def check(self) -> None:
        self.target = self.outbound.target(self.app)

    def create(self) -> Created:
        return self.outbound.create(self.app)

    def send(self, created: Created) -> None:
        self.outbound.upload_and_submit(self.app, created, target=self.target)

    def submitted(self, created: Created) -> bool:
        names = {e.name for e in submission_events(self.outbound.api, self.events, created, self.api_version)
                 if e.submission_id == created.submission_id}
        if names & SUBMITTED_EVENTS:
            return True
        if "delete-submission" in names:
            raise SubmissionGone("the Zustelldienst deleted the incomplete submission; send it again")
        return False


def submission_events(api: SubmissionApi, events: EventVerifier, created: Created,
                      api_version: ApiVersion) -> list[Event]:
    """The submission's event log, each SET verified; forged ones (or ones signed with a key that
    fails validation) are left out: they change no status."""
    verified = []
    for token in api.with_version(api_version).get_events(created.case_id, created.submission_id):
        try:
            verified.append(events.verify(token))
        except (jose.JoseFailure, PermanentError):
            continue
    return verified


class FitConnectSender:
    name = "fitconnect"

    def __init__(self, api: SubmissionApi, outbound: Outbound, events: EventVerifier, state: StateStore,
                 forwarding: ForwardingOptions | None = None, routing: RoutingApi | None = None) -> None:
        self.api, self.outbound, self.events, self.state = api, outbound, events, state
        self.forwarding, self.routing = forwarding or ForwardingOptions(), routing
        self.once = Once(state, STATE_NAMESPACE)

    def destination_for(self, case: Case, target: str) -> str:
        """The destination id a target names: itself, or the one the Routing API names for
        ``ars:<ARS>`` and the case's service (signature verified)."""
        if target.startswith("ars:"):
            if self.routing is None:
                raise DestinationUnusable("forwarding by area needs the Routing API (options.routing)")
            return self.routing.route(case.service.leika, target.removeprefix("ars:")).destination_id
        if not is_uuid(target):  # it becomes part of API paths and of the state key
            raise DestinationUnusable("the forwarding target is not a FIT-Connect destination id")
        return target

    def send(self, case: Case, target: str, blobs: BlobStore) -> Forwarding:
        key = f"{case.id}|{target}"
        known = self.once.recorded(key)
        if known is not None and known.get("submitted"):
            return _forwarding(target, str(known["caseId"]), str(known["submissionId"]),
                               destination=str(known.get("destinationId") or target))
        destination = str(known["destinationId"]) if known is not None and known.get("destinationId") \
            else self.destination_for(case, target)
        api_version, metadata_version = self.forwarding.for_target(destination)
        app = application_for(case, destination, blobs, api_version, metadata_version)
        steps = SubmissionSteps(self.outbound, self.events, lambda: app, api_version)
        created = self.once.run(key, steps, {"destinationId": destination})
        return _forwarding(target, created.case_id, created.submission_id, destination=destination)

    def follow(self, forwarding: Forwarding) -> Forwarding:
        case_id, submission_id, *routed = forwarding.remote_id.split("/")
        destination = routed[0] if routed else forwarding.target  # routed by area: the id found
        api_version = self.forwarding.for_target(destination)[0]
        status = status_of(submission_events(self.api, self.events, Created(submission_id, case_id), api_version),
                           submission_id)
        return _forwarding(forwarding.target, case_id, submission_id,
                           forwarding.status if status == "unknown" else status, destination)


def _forwarding(target: str, case_id: str, submission_id: str, status: str = "submitted",
                destination: str | None = None) -> Forwarding:
    """``remote_id`` is ``<caseId>/<submissionId>``, with ``/<destinationId>`` when the target
    was an area the Routing API resolved."""
    routed = f"/{destination}" if destination and destination != target else ""
    return Forwarding(channel="fitconnect", target=target, remote_id=f"{case_id}/{submission_id}{routed}",
                      status=status)

"""What differs between Submission API v1 and v2 on the wire: paths and field names.

Sources (facts only; see ``adapters/fitconnect/README.md``, *Checked against published sources*):

* v1: the published OpenAPI document ``submission-api.yaml`` 1.1.3.
* v2, verified: the PHP client ``optiGov/php-fitconnect`` (``src/Api/ApiClient.php``,
  ``src/FitConnect/Client.php``, ``src/DTOs/Incoming/DestinationInfo.php``) and a Django client
  (``vorgangswerk`` FIT-Connect outbox, Submission API v2): ``POST /v2/submissions`` with
  ``publicService {identifier, name}`` (v1: ``serviceType``), ``PUT /v2/submissions/{id}``,
  ``PUT /v2/submissions/{id}/attachments/{attachmentId}`` (``application/jose``),
  ``GET /v2/submissions/{id}/events?limit&offset`` answering ``eventLog`` (v1: the case's
  ``/v1/cases/{caseId}/events``), ``GET /v2/destinations/{id}`` answering ``destinationId``,
  ``name``, ``status``, ``metadataVersions``, ``publicServices`` (v1: ``services``),
  ``encryptionKid``, ``contactInformation``, ``callback``; ``GET /v2/destinations/{id}/keys``
  (``keys``) and ``.../keys/{kid}``.
* v2, derived (no published source could be read): the subscriber's side -- the list
  ``GET /v2/submissions?destinationId``, ``GET /v2/submissions/{id}`` with ``publicService``,
  ``GET /v2/submissions/{id}/attachments/{attachmentId}`` -- and ``POST
  /v2/submissions/{id}/events`` for accept/reject, by analogy with the v1 operations and the
  v2 sender paths above.
* Replies (the FIT-Connect reply channel, "Rückkanal FIT-Connect"): verified only that replies
  are resources of their own with an id (``replyId``) and an event log of their own,
  ``GET /v1/replies/{replyId}/events`` (FITKO planning issue 2089), and that the online service
  lists them with ``GET /replies``, answered by a ``notify-reply`` event (planning issue 1295).
  Everything else -- ``POST /v{n}/replies`` with ``caseId`` and ``announcedAttachments``,
  ``PUT .../replies/{replyId}/attachments/{attachmentId}``, ``PUT .../replies/{replyId}`` with
  ``encryptedMetadata``/``encryptedData``, ``GET .../replies/{replyId}`` -- is our reading by
  analogy with the submissions (the reply API's OpenAPI document could not be read) [D].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

ApiVersion = Literal["v1", "v2"]


@dataclass(frozen=True)
class Paths:
    submissions: str
    submission: str
    attachment: str
    events: str
    post_event: str
    destination: str
    destination_key: str
    destination_keys: str
    info: str
    service_field: str  # the submission's service member: serviceType (v1), publicService (v2)
    destination_services_field: str  # services (v1), publicServices (v2)
    replies: str  # the reply resources (unverified names, see above)
    reply: str
    reply_attachment: str
    reply_events: str


PATHS: dict[ApiVersion, Paths] = {
    "v1": Paths(
        submissions="/v1/submissions",
        submission="/v1/submissions/{submission_id}",
        attachment="/v1/submissions/{submission_id}/attachments/{attachment_id}",
        events="/v1/cases/{case_id}/events",
        post_event="/v1/cases/{case_id}/events",
        destination="/v1/destinations/{destination_id}",
        destination_key="/v1/destinations/{destination_id}/keys/{kid}",
        destination_keys="/v1/destinations/{destination_id}/keys",
        info="/v1/info",
        service_field="serviceType",
        destination_services_field="services",
        replies="/v1/replies",
        reply="/v1/replies/{reply_id}",
        reply_attachment="/v1/replies/{reply_id}/attachments/{attachment_id}",
        reply_events="/v1/replies/{reply_id}/events",
    ),
    "v2": Paths(
        submissions="/v2/submissions",
        submission="/v2/submissions/{submission_id}",
        attachment="/v2/submissions/{submission_id}/attachments/{attachment_id}",
        events="/v2/submissions/{submission_id}/events",
        post_event="/v2/submissions/{submission_id}/events",
        destination="/v2/destinations/{destination_id}",
        destination_key="/v2/destinations/{destination_id}/keys/{kid}",
        destination_keys="/v2/destinations/{destination_id}/keys",
        info="/v2/info",
        service_field="publicService",
        destination_services_field="publicServices",
        replies="/v2/replies",
        reply="/v2/replies/{reply_id}",
        reply_attachment="/v2/replies/{reply_id}/attachments/{attachment_id}",
        reply_events="/v2/replies/{reply_id}/events",
    ),
}


def announced_service(version: ApiVersion, identifier: str, name: str) -> dict[str, Any]:
    """The service member of a create-submission request."""
    return {PATHS[version].service_field: {"identifier": identifier, "name": name}}


def submission_service(submission: dict[str, Any]) -> str | None:
    """The service identifier a submission document announces (``serviceType`` in v1,
    ``publicService`` in v2; a document carrying both must name the same)."""
    found = {str(value.get("identifier")) for field in ("serviceType", "publicService")
             if isinstance(value := submission.get(field), dict) and value.get("identifier") is not None}
    return found.pop() if len(found) == 1 else (None if not found else "")

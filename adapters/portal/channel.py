"""Portal channel: the request envelope is already authenticated; verification checks that
every referenced attachment was delivered with the declared SHA-512."""

from __future__ import annotations

import json

from pydantic import ValidationError

from adapters.portal.envelope import PortalApplication
from gateway.errors import BlobNotFound, InvalidPayload
from gateway.ports import BlobStore, InboundMessage, StateStore, VerifiedAttachment, VerifiedSubmission

CHANNEL = "portal"
UPLOADS = "portal.uploads"


def upload_key(client_id: str | None, sha512: str) -> str:
    return f"{client_id}:{sha512}"


def parse_envelope(payload: bytes) -> PortalApplication:
    try:
        return PortalApplication.model_validate_json(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidPayload(f"invalid application envelope at {'/'.join(map(str, first['loc']))}: {first['msg']}",
                             errors=len(exc.errors())) from None


def _encode(data: dict[str, object]) -> bytes:
    # json, not orjson: form data may hold integers beyond 64 bits (e.g. chip numbers)
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


class PortalChannel:
    """Not an ``Acknowledger``: the portal backend waits for the HTTP response, and that
    response (201 with the case, or the problem) is the acknowledgement."""

    name = CHANNEL

    def __init__(self, blobs: BlobStore, state: StateStore) -> None:
        self._blobs = blobs
        self._state = state

    def verify(self, message: InboundMessage) -> VerifiedSubmission:
        envelope = parse_envelope(message.payload)
        attachments = []
        for ref in envelope.attachments:
            # the blob store is shared by all tenants: only what this client delivered itself counts
            if self._state.get(UPLOADS, upload_key(message.client_id, ref.sha512)) is None:
                raise InvalidPayload(f"attachment {ref.id!r} was announced but not uploaded",
                                     attachment=ref.id)
            try:
                content = self._blobs.get(f"sha512/{ref.sha512}")
            except BlobNotFound:
                raise InvalidPayload(f"attachment {ref.id!r} was announced but not uploaded",
                                     attachment=ref.id) from None
            attachments.append(VerifiedAttachment(id=ref.id, filename=ref.filename, media_type=ref.media_type,
                                                  content=content, purpose=ref.purpose,
                                                  description=ref.description, declared_sha512=ref.sha512))
        return VerifiedSubmission(
            tenant_ars=envelope.tenant, source_format=envelope.source_format, data=_encode(envelope.data),
            data_media_type="application/json", service_leika=envelope.service, attachments=attachments,
            account=envelope.account, reply_channel=envelope.reply_channel, payment=envelope.payment,
            submitted_at=envelope.submitted_at, references={"form": envelope.form},
        )

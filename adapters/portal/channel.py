"""Portal channel: the request envelope is already authenticated; verification checks that
every referenced attachment was delivered with the declared SHA-512 — with the request (a
multipart part: ``InboundMessage.parts``) or uploaded beforehand by the same client."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

from pydantic import ValidationError

from adapters.portal import text_rules
from adapters.portal.envelope import PortalApplication
from adapters.portal.options import PortalOptions
from adapters.portal.uploads import pending_upload
from gateway.errors import InvalidPayload
from gateway.ports import BlobStore, InboundMessage, StateStore, StoredBlob, VerifiedAttachment, VerifiedSubmission

CHANNEL = "portal"


def _form_of(document: object) -> str:
    form = document.get("form") if isinstance(document, dict) else None
    return form if isinstance(form, str) else ""


def parse_envelope(payload: bytes, options: PortalOptions | None = None,
                   multiline_patterns: Callable[[str], frozenset[tuple[str, ...]]] = lambda _: frozenset()
                   ) -> PortalApplication:
    """The envelope, checked: the characters of every string (text_rules.py; the form's
    multi-line fields from ``multiline_patterns(source format)``), its structure and types, and
    a ``submitted_at`` not later than now plus the tolerated clock skew and not before the
    configured earliest date."""
    try:
        document = json.loads(payload)
    except (ValueError, RecursionError):
        raise InvalidPayload("the application envelope is not valid JSON") from None
    document = text_rules.clean(document, text_rules.multiline_in(multiline_patterns(f"portal:{_form_of(document)}")))
    try:
        envelope = PortalApplication.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidPayload(f"invalid application envelope at {'/'.join(map(str, first['loc']))}: {first['msg']}",
                             errors=len(exc.errors())) from None
    options = options or PortalOptions()
    latest = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=options.max_clock_skew_seconds)
    if envelope.submitted_at > latest:
        raise InvalidPayload("submitted_at lies in the future", field="/submitted_at",
                             max_clock_skew_seconds=options.max_clock_skew_seconds)
    if envelope.submitted_at < options.earliest_submitted_at:
        raise InvalidPayload("submitted_at lies implausibly far in the past", field="/submitted_at",
                             earliest=options.earliest_submitted_at.isoformat())
    return envelope


def _encode(data: dict[str, object]) -> bytes:
    # json, not orjson: form data may hold integers beyond 64 bits (e.g. chip numbers)
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


class PortalChannel:
    """Not an ``Acknowledger``: the portal backend waits for the HTTP response, and that
    response (201 with the case, or the problem) is the acknowledgement."""

    name = CHANNEL

    def __init__(self, blobs: BlobStore, state: StateStore, options: PortalOptions | None = None,
                 multiline_patterns: Callable[[str], frozenset[tuple[str, ...]]] = lambda _: frozenset()) -> None:
        self._blobs = blobs
        self._state = state
        self.options = options or PortalOptions()
        self._multiline = multiline_patterns

    def parse(self, payload: bytes) -> PortalApplication:
        return parse_envelope(payload, self.options, self._multiline)

    def _delivered(self, key: str, sha512: str) -> StoredBlob | None:
        size = self._blobs.size(key)
        return None if size is None else StoredBlob(key=key, sha512=sha512, size=size)

    def verify(self, message: InboundMessage) -> VerifiedSubmission:
        envelope = self.parse(message.payload)
        attachments = []
        delivered = set(message.parts)  # the attachments that came with the request (multipart)
        for ref in envelope.attachments:
            # the blob store is shared by all tenants: only what this client delivered itself counts,
            # with this request (multipart) or uploaded beforehand; the bytes are in the blob store
            # already and stay there (never read here)
            key = f"sha512/{ref.sha512}"
            stored = (self._delivered(key, ref.sha512) if key in delivered
                      else pending_upload(self._state, message.client_id, ref.sha512))
            if stored is None or not self._blobs.exists(stored.key):
                raise InvalidPayload(f"attachment {ref.id!r} was announced but not uploaded",
                                     attachment=ref.id)
            attachments.append(VerifiedAttachment(id=ref.id, filename=ref.filename, media_type=ref.media_type,
                                                  stored=stored, purpose=ref.purpose,
                                                  description=ref.description, declared_sha512=ref.sha512))
        references = {"form": envelope.form}
        if envelope.reply_channel is not None:
            references["replyChannel"] = json.dumps(envelope.reply_channel.details(), ensure_ascii=False)
        return VerifiedSubmission(
            tenant_ars=envelope.tenant, source_format=envelope.source_format, data=_encode(envelope.data),
            data_media_type="application/json", service_leika=envelope.service, attachments=attachments,
            account=envelope.account,
            reply_channel=envelope.reply_channel.for_case() if envelope.reply_channel else None,
            payment=envelope.payment, submitted_at=envelope.submitted_at, references=references,
        )

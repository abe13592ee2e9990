"""The XTA channel: verify a fetched message, acknowledge it with ``close``.

``verify`` works only on the stored message (:mod:`.original`: the envelope and one blob per
MIME part), never on the network, so the core can run it again after a crash. Attachments that
arrived as MTOM parts are in the blob store already and are handed to the core as they are
(``VerifiedAttachment.stored``): an attachment of any size is never read into memory.
``acknowledge`` and ``reject`` run from the outbox after the commit; both are idempotent
because a message the server no longer knows (already closed) counts as closed.
"""

from __future__ import annotations

import logging
import posixpath
import re

from adapters.xta.client import XtaClient
from adapters.xta.container import ROOT_MAX_BYTES, Content, read_message
from adapters.xta.errors import XtaUnknownMessage, shown
from adapters.xta.formats import Formats
from adapters.xta.options import XtaOptions
from adapters.xta.original import open_message
from gateway import safexml
from gateway.errors import InvalidPayload, Problem, VerificationFailed
from gateway.mapping import MAX_DOCUMENT_BYTES, MAX_XML_DEPTH
from gateway.ports import (
    BlobStore,
    CommittedCase,
    InboundMessage,
    StoredBlob,
    VerifiedAttachment,
    VerifiedSubmission,
)

log = logging.getLogger("adapters.xta")

XML_MEDIA_TYPES = {"application/xml", "text/xml"}
_UNSAFE_FILENAME = re.compile(r"[\x00-\x1f\x7f/\\]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")
_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")  # RFC 6838
MAX_DESCRIPTION_CHARS = 500


def _filename(name: str | None, index: int) -> str:
    # Sender-controlled: keep the last path segment only, without control characters.
    base = posixpath.basename((name or "").replace("\\", "/"))
    base = _UNSAFE_FILENAME.sub("_", base).strip(". ")
    return base[:200] or f"attachment-{index}.bin"


def _media_type(value: str) -> str:
    base = value.split(";", 1)[0].strip().lower()
    return base if _MEDIA_TYPE.match(base) else "application/octet-stream"


def _description(text: str | None) -> str | None:
    # Sender-controlled label shown to case workers: one line, bounded.
    text = _CONTROL.sub(" ", text or "").strip()
    return text[:MAX_DESCRIPTION_CHARS] or None


def _checked(content: Content, what: str) -> Content:
    if content.declared_size is not None and content.declared_size != content.size:
        raise VerificationFailed(f"{what}: declared size {content.declared_size} differs from "
                                 f"the received {content.size} bytes")
    return content


class XtaChannel:
    name = "xta"

    def __init__(self, options: XtaOptions, formats: Formats, client: XtaClient, blobs: BlobStore) -> None:
        self.options = options
        self.formats = formats
        self.client = client
        self.blobs = blobs
        # the mappings may reuse our parse only if it was at least as strict as their own
        mapping_limits = safexml.DEFAULT_LIMITS.replace(max_bytes=MAX_DOCUMENT_BYTES, max_depth=MAX_XML_DEPTH)
        self._parse_fits_the_mappings = options.payload_limits.within(mapping_limits)

    def verify(self, message: InboundMessage) -> VerifiedSubmission:
        opened = open_message(message, self.blobs, self.options.max_message_bytes, ROOT_MAX_BYTES)
        fetched = read_message(opened.root, opened.parts)
        meta = fetched.metadata
        if meta.message_id != message.source_id:
            raise VerificationFailed("MessageID in MessageMetaData differs from the mailbox entry")
        if meta.reader.value != self.options.party:
            raise VerificationFailed("message is addressed to another reader than this mailbox")
        fmt = self.formats.get(meta.message_type.code, meta.payload_schema)
        if len(fetched.attachments) > self.options.max_attachments:
            raise InvalidPayload(f"XTA message with {len(fetched.attachments)} attachments; "
                                 f"at most {self.options.max_attachments} are accepted")
        body = _checked(fetched.message, "Message")
        if body.media_type.split(";")[0].strip().lower() not in XML_MEDIA_TYPES:
            raise InvalidPayload(f"Message content type {shown(body.media_type)} is not XML")
        data = self._message_bytes(body)
        root = safexml.parse(data, limits=self.options.payload_limits)
        fmt.validate(root, data)
        attachments, ids = [], set()
        for i, a in enumerate(fetched.attachments, start=1):
            # The sender's id when it has given a unique, plain one, else the position.
            declared = a.declared_id if a.declared_id and _TOKEN.match(a.declared_id) else None
            attachment_id = declared if declared and declared not in ids else f"attachment-{i}"
            while attachment_id in ids:  # a sender's id that looks like one of our positions
                attachment_id = f"{attachment_id}-{i}"
            ids.add(attachment_id)
            part = _checked(a, f"Attachment {i}").data
            attachments.append(VerifiedAttachment(
                id=attachment_id, filename=_filename(a.filename, i), media_type=_media_type(a.media_type),
                content=None if isinstance(part, StoredBlob) else part.tobytes(),
                stored=part if isinstance(part, StoredBlob) else None, description=_description(a.description)))
        return VerifiedSubmission(
            tenant_ars=self.options.tenant_ars,
            source_format=fmt.source_format,
            data=data,
            data_media_type="application/xml",
            service_leika=fmt.leika(root),
            attachments=attachments,
            submitted_at=meta.origin,
            references={"service": meta.service, "messageType": meta.message_type.code,
                        "businessScenario": meta.business_scenario.code, "author": meta.author.value},
            parsed_data=root if self._parse_fits_the_mappings else None,
        )

    def _message_bytes(self, body: Content) -> bytes:
        """The XML message itself, which is parsed: read whole, refused beyond the parse's size cap first."""
        if not isinstance(body.data, StoredBlob):
            return body.data.tobytes()
        limit = self.options.payload_limits.max_bytes
        if body.data.size > limit:
            raise InvalidPayload(f"XML document too large: {body.data.size} bytes, limit {limit}")
        return self.blobs.get(body.data.key)

    def acknowledge(self, message: InboundMessage, case: CommittedCase) -> None:
        self._close(message.source_id)

    def reject(self, message: InboundMessage, problem: Problem) -> None:
        if self.options.quarantine_then_close:
            self._close(message.source_id)
        else:
            log.info("xta message %s quarantined and left open in the mailbox", message.source_id)

    def _close(self, message_id: str) -> None:
        try:
            self.client.close([message_id])
        except XtaUnknownMessage:
            # Closed before (e.g. the process died after close and before the outbox noted it)
            # or removed by the server: either way nothing is left to acknowledge.
            log.info("xta message %s was already closed", message_id)
        else:
            log.info("xta message %s closed", message_id)

"""A reply's documents as FIT-Connect attachments: read from the blob store, checked against
their records, with attachment ids derived from the delivery (a retry uploads the same ids)."""

from __future__ import annotations

import uuid

from adapters.fitconnect.outbound import OutgoingAttachment
from gateway.errors import PermanentError
from gateway.ports import BlobStore, OutgoingReply

_ATTACHMENTS = uuid.UUID("0e6f1c2a-9b3d-4f57-8a21-6c4d2e9b7f13")
_UNSAFE_IN_NAMES = frozenset("/\\\x00")


def attachments_of(reply: OutgoingReply, blobs: BlobStore, max_bytes: int, max_count: int,
                   refused: type[PermanentError]) -> list[OutgoingAttachment]:
    """Every document of ``reply`` (none for a status update) in memory -- capped by
    ``max_bytes`` each: it is encrypted whole. The SHA-512 is the record's: the blob store is
    content-addressed, its key is the digest; a blob whose size differs from its record is refused."""
    documents = reply.documents if reply.kind != "status" else ()
    if len(documents) > max_count:
        raise refused("the reply has more documents than this channel carries", limit=max_count)
    if any(not d.filename or set(d.filename) & _UNSAFE_IN_NAMES for d in documents):
        raise refused("a document's file name is not a plain name")
    attachments = []
    for document in documents:
        if document.size > max_bytes:
            raise refused("a document is larger than this channel takes", limit=max_bytes)
        content = blobs.get(document.storage_key)
        if len(content) != document.size:
            raise PermanentError("a document in the blob store differs from its record")
        attachments.append(OutgoingAttachment(
            attachment_id=str(uuid.uuid5(_ATTACHMENTS, f"{reply.delivery_id}/{document.id}")),
            filename=document.filename, media_type=document.media_type, content=content,
            description=document.filename, sha512=document.sha512))
    return attachments

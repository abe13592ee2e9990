"""The verify step's result, kept so a retry never decrypts or checks twice.

Content (decrypted data, attachments) goes to the blob store; the checkpoint row holds
keys and metadata only. Large attachments arrive already stored (``VerifiedAttachment.stored``,
streamed in by the channel): they are recorded by key, never read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import Any

from gateway.case.model import AccountIdentity, Attachment, Payment, ReplyChannel
from gateway.errors import VerificationFailed
from gateway.ports import BlobStore, VerifiedSubmission


def attachment_records(verified: VerifiedSubmission, blobs: BlobStore, store: bool = True) -> list[Attachment]:
    """Each attachment as a blob of its own (durable before the case commits). ``store=False``:
    the records only (keys from the digests), nothing written — see :func:`store_attachments`."""
    records = []
    for item in verified.attachments:
        if item.stored is not None:  # streamed into the store by the channel: never read here
            key, digest = item.stored.key, item.stored.sha512
        else:
            content = item.content or b""
            # a content-addressed store names the blob by its SHA-512: no second pass over the bytes
            digest = item.sha512 or hashlib.sha512(content).hexdigest()
            key = blobs.put(content, sha512=digest) if store else "sha512/" + digest
        if item.declared_sha512 is not None and not hmac.compare_digest(
                item.declared_sha512.lower().encode(), digest.encode()):
            raise VerificationFailed("attachment hash does not match the declared SHA-512",
                                     attachment=item.id)
        records.append(Attachment(
            id=item.id, filename=item.filename, media_type=item.media_type, size=item.size,
            sha512=digest, storage_key=key,
            purpose=item.purpose if item.purpose in ("form", "attachment", "report") else "attachment",
            description=item.description,
        ))
    return records


def store_attachments(verified: VerifiedSubmission, records: list[Attachment], blobs: BlobStore) -> None:
    """Write the attachments whose ``records`` were made with ``store=False`` (durable when it
    returns), under the digests computed then; those the channel stored itself are there already."""
    for item, record in zip(verified.attachments, records, strict=True):
        if item.content is not None:
            blobs.put(item.content, sha512=record.sha512)


def to_checkpoint(verified: VerifiedSubmission, blobs: BlobStore, keep_data: bool = True,
                  store: bool = True) -> dict[str, Any]:
    """``keep_data=False`` when the checkpoint only lives in memory (inline intake): the data is
    derived from the raw original, which is kept anyway. ``store=False``: nothing is written
    yet (the synchronous intake stores the attachments once the request is accepted)."""
    attachments = attachment_records(verified, blobs, store)
    return {
        "tenant_ars": verified.tenant_ars,
        "source_format": verified.source_format,
        "data_key": blobs.put(verified.data) if keep_data else None,
        "data_media_type": verified.data_media_type,
        "service_leika": verified.service_leika,
        "attachments": [a.model_dump(mode="json") for a in attachments],
        "account": verified.account.model_dump(mode="json") if verified.account else None,
        "reply_channel": verified.reply_channel.model_dump(mode="json") if verified.reply_channel else None,
        "payment": verified.payment.model_dump(mode="json") if verified.payment else None,
        "submitted_at": verified.submitted_at.isoformat() if verified.submitted_at else None,
        "references": dict(verified.references),
    }


class Verified:
    """A verify checkpoint read back: data and metadata without re-running the channel."""

    def __init__(self, checkpoint: dict[str, Any], blobs: BlobStore, data: bytes | None = None,
                 parsed_data: Any = None) -> None:
        self._checkpoint, self._blobs = checkpoint, blobs
        self.parsed_data = parsed_data  # the channel's parse of ``data``, fresh from verify only
        self.tenant_ars: str = checkpoint["tenant_ars"]
        self.source_format: str = checkpoint["source_format"]
        self.data: bytes = data if data is not None else blobs.get(checkpoint["data_key"])
        self.data_media_type: str = checkpoint["data_media_type"]
        self.service_leika: str | None = checkpoint["service_leika"]
        self.attachments = [Attachment.model_validate(a) for a in checkpoint["attachments"]]
        self.account = AccountIdentity.model_validate(checkpoint["account"]) if checkpoint["account"] else None
        self.reply_channel = (ReplyChannel.model_validate(checkpoint["reply_channel"])
                              if checkpoint["reply_channel"] else None)
        self.payment = Payment.model_validate(checkpoint["payment"]) if checkpoint["payment"] else None
        self.submitted_at = (dt.datetime.fromisoformat(checkpoint["submitted_at"])
                             if checkpoint["submitted_at"] else None)
        self.references: dict[str, str] = checkpoint["references"]

    def checkpoint(self) -> dict[str, Any]:
        """The checkpoint to keep for a retry, with the data stored if it was only in memory."""
        if self._checkpoint["data_key"] is not None:
            return self._checkpoint
        return {**self._checkpoint, "data_key": self._blobs.put(self.data)}

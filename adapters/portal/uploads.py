"""Pending uploads of a portal client: attachment bytes delivered (``POST /v1/uploads``) before
the application that uses them, kept for ``upload_ttl_seconds`` and counted against the
client's quota (count and bytes). The attachments of a multipart application are not pending
uploads: they belong to that request alone (``InboundMessage.parts``) and are deleted again
right away when it is refused. Each is an adapter state entry naming its blob (and its size),
which keeps the blob from the garbage collector until the entry is used or expires.

The bytes stream into the blob store (``BlobStore.put_stream``), one chunk in memory at a time;
the quota is checked when the stream has ended -- only then are the upload's digest and size
known -- and before the blob gets its name, so a refused upload leaves nothing behind.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator

from adapters.portal.options import PortalOptions
from gateway.errors import PayloadTooLarge, TooManyRequests
from gateway.ports import BlobStore, StateStore, StoredBlob

UPLOADS = "portal.uploads"


def upload_key(client_id: str | None, sha512: str) -> str:
    return f"{client_id}:{sha512}"


def store_upload(blobs: BlobStore, state: StateStore, options: PortalOptions, client_id: str,
                 chunks: Iterable[bytes], max_bytes: int) -> StoredBlob:
    """Store one upload within the client's quota and record it as pending."""

    def admitted() -> Iterator[bytes]:
        digest, size = hashlib.sha512(), 0
        for chunk in chunks:
            size += len(chunk)
            if size > max_bytes:
                raise PayloadTooLarge(f"attachment exceeds {max_bytes} bytes")
            digest.update(chunk)
            yield chunk
        _check_quota(state, options, client_id, digest.hexdigest(), size)

    stored = blobs.put_stream(admitted())
    state.put(UPLOADS, upload_key(client_id, stored.sha512), {"size": stored.size, "blob": stored.key},
              ttl_seconds=options.upload_ttl_seconds)
    return stored


def _check_quota(state: StateStore, options: PortalOptions, client_id: str, sha512: str, size: int) -> None:
    pending = state.scan(UPLOADS, f"{client_id}:")
    if any(k == upload_key(client_id, sha512) for k, _ in pending):
        return  # the same bytes again only refresh their entry
    total = sum(int(str(v.get("size", 0))) for _, v in pending)
    if len(pending) + 1 > options.upload_quota_count or total + size > options.upload_quota_bytes:
        raise TooManyRequests(
            "the client's upload quota is used up: use the pending uploads in applications or wait until "
            "they expire", retry_after=options.upload_ttl_seconds, pending_uploads=len(pending),
            pending_bytes=total, quota_uploads=options.upload_quota_count,
            quota_bytes=options.upload_quota_bytes)


def pending_upload(state: StateStore, client_id: str | None, sha512: str) -> StoredBlob | None:
    """The client's pending upload of these bytes, if it has one."""
    entry = state.get(UPLOADS, upload_key(client_id, sha512))
    if entry is None:
        return None
    size, blob = entry.get("size"), entry.get("blob")
    if not isinstance(size, int) or not isinstance(blob, str):
        return None
    return StoredBlob(key=blob, sha512=sha512, size=size)


def release(state: StateStore, client_id: str, sha512s: list[str]) -> None:
    """Uploads an application has used: the case references their blobs now."""
    for sha512 in sha512s:
        state.delete(UPLOADS, upload_key(client_id, sha512))

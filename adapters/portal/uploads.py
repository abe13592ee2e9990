"""Pending uploads of a portal client: attachment bytes delivered before (or with) the
application that uses them, kept for ``upload_ttl_seconds`` and counted against the client's
quota (count and bytes). Each is an adapter state entry naming its blob, which keeps the blob
from the garbage collector until the entry is used or expires."""

from __future__ import annotations

from adapters.portal.options import PortalOptions
from gateway.errors import TooManyRequests
from gateway.ports import BlobStore, StateStore

UPLOADS = "portal.uploads"


def upload_key(client_id: str | None, sha512: str) -> str:
    return f"{client_id}:{sha512}"


def store_upload(blobs: BlobStore, state: StateStore, options: PortalOptions, client_id: str, content: bytes,
                 sha512: str) -> str:
    """Check the client's quota, then store the bytes and record the pending upload."""
    key = upload_key(client_id, sha512)
    pending = state.scan(UPLOADS, f"{client_id}:")
    if not any(k == key for k, _ in pending):  # the same bytes again only refresh their entry
        total = sum(int(str(v.get("size", 0))) for _, v in pending)
        if len(pending) + 1 > options.upload_quota_count or total + len(content) > options.upload_quota_bytes:
            raise TooManyRequests(
                "the client's upload quota is used up: use the pending uploads in applications or wait until "
                "they expire", retry_after=options.upload_ttl_seconds, pending_uploads=len(pending),
                pending_bytes=total, quota_uploads=options.upload_quota_count,
                quota_bytes=options.upload_quota_bytes)
    blob = blobs.put(content, sha512=sha512)
    state.put(UPLOADS, key, {"size": len(content), "blob": blob}, ttl_seconds=options.upload_ttl_seconds)
    return blob


def release(state: StateStore, client_id: str, sha512s: list[str]) -> None:
    """Uploads an application has used: the case references their blobs now."""
    for sha512 in sha512s:
        state.delete(UPLOADS, upload_key(client_id, sha512))

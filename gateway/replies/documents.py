"""The documents of a reply: PDFs only, size-limited, kept in the blob store (durable before the
reply that names them commits).

A document arrives as a part of the reply's multipart request, or beforehand as an upload
(``POST /v1/reply-documents``) that the reply names by its SHA-512 — as the portal's attachments
do. A pending upload is an adapter-state entry of its client naming the blob (so the blob
survives the garbage collector), counted against the client's quota and expiring after
``replies.upload_ttl_seconds``; the blob store is shared, so only what the client uploaded
itself may be named."""

from __future__ import annotations

import hashlib
from typing import Any

from gateway.config import RepliesSettings
from gateway.errors import InvalidRequest, PayloadTooLarge, TooManyRequests, UnsupportedMediaType
from gateway.ports import BlobStore, StateStore
from gateway.replies.request import ReplyRequest

UPLOADS = "replies.uploads"
PDF_MEDIA_TYPE = "application/pdf"
# A PDF starts with its header and ends with an end-of-file marker within the last kilobyte
# (ISO 32000-1 7.5.2 and 7.5.5; readers tolerate trailing garbage, so a little slack).
_PDF_HEADER = b"%PDF-"
_PDF_EOF = b"%%EOF"
_TAIL = 1024


def check_pdf(content: bytes, label: str, max_bytes: int) -> None:
    if len(content) > max_bytes:
        raise PayloadTooLarge(f"document {label!r} exceeds {max_bytes} bytes", document=label, max_bytes=max_bytes)
    if not content.startswith(_PDF_HEADER) or _PDF_EOF not in content[-_TAIL:]:
        raise UnsupportedMediaType(f"document {label!r} is not a PDF; replies carry PDF documents only",
                                   document=label, accepted=[PDF_MEDIA_TYPE])


def upload_key(client_id: str, sha512: str) -> str:
    return f"{client_id}:{sha512}"


def upload(blobs: BlobStore, state: StateStore, settings: RepliesSettings, client_id: str, content: bytes
           ) -> tuple[str, int]:
    """A PDF uploaded before its reply: checked, stored, pending for the client; SHA-512 and size."""
    check_pdf(content, "upload", settings.max_document_bytes)
    digest = hashlib.sha512(content).hexdigest()
    store_upload(blobs, state, settings, client_id, content, digest)
    return digest, len(content)


def store_upload(blobs: BlobStore, state: StateStore, settings: RepliesSettings, client_id: str, content: bytes,
                 sha512: str) -> str:
    """Checks the client's quota, stores the bytes (durably) and records the pending upload."""
    key = upload_key(client_id, sha512)
    pending = state.scan(UPLOADS, f"{client_id}:")
    if not any(k == key for k, _ in pending):  # the same bytes again only refresh their entry
        total = sum(int(str(v.get("size", 0))) for _, v in pending)
        if len(pending) + 1 > settings.upload_quota_count or total + len(content) > settings.upload_quota_bytes:
            raise TooManyRequests("the client's quota of pending reply documents is used up: name them in replies "
                                  "or wait until they expire", retry_after=settings.upload_ttl_seconds,
                                  pending_uploads=len(pending), pending_bytes=total)
    blob = blobs.put(content, sha512=sha512)
    state.put(UPLOADS, key, {"size": len(content), "blob": blob}, ttl_seconds=settings.upload_ttl_seconds)
    return blob


def uploaded(state: StateStore, client_id: str, sha512: str) -> int | None:
    """The size of this client's pending upload with that SHA-512, or None."""
    entry = state.get(UPLOADS, upload_key(client_id, sha512))
    return int(str(entry.get("size", 0))) if entry is not None else None


def release(state: StateStore, client_id: str, sha512s: list[str]) -> None:
    """Uploads a committed reply names: the reply references their blobs now."""
    for sha512 in sha512s:
        state.delete(UPLOADS, upload_key(client_id, sha512))


def digests(request: ReplyRequest, parts: dict[str, bytes], settings: RepliesSettings) -> dict[str, str]:
    """Each document's SHA-512: of its part (checked: a PDF within the limit, the declared digest
    if any), or the declared one of an upload (whose existence :func:`store` checks)."""
    if len(request.documents) > settings.max_documents:
        raise InvalidRequest(f"at most {settings.max_documents} documents per reply")
    stray = sorted(set(parts) - {d.id for d in request.documents})
    if stray:
        raise InvalidRequest(f"part {stray[0]!r} is not a document announced in the reply")
    found: dict[str, str] = {}
    for doc in request.documents:
        content = parts.get(doc.id)
        if content is not None:
            check_pdf(content, doc.id, settings.max_document_bytes)
            digest = hashlib.sha512(content).hexdigest()
            if doc.sha512 is not None and doc.sha512 != digest:
                raise InvalidRequest(f"document {doc.id!r} does not match its declared SHA-512", document=doc.id)
            found[doc.id] = digest
        elif doc.sha512 is None:
            raise InvalidRequest(f"document {doc.id!r} has neither a part in this request nor the SHA-512 of an "
                                 "upload", document=doc.id)
        else:
            found[doc.id] = doc.sha512
    return found


def store(request: ReplyRequest, parts: dict[str, bytes], digests: dict[str, str], blobs: BlobStore,
          state: StateStore, client_id: str) -> list[dict[str, Any]]:
    """The documents as the reply keeps them, each durable before the reply that names it commits:
    a part is stored now; an upload must be this client's and still pending."""
    stored = []
    for doc in request.documents:
        content = parts.get(doc.id)
        if content is not None:
            key, size = blobs.put(content, sha512=digests[doc.id]), len(content)
        else:
            pending = uploaded(state, client_id, digests[doc.id])
            key = f"sha512/{digests[doc.id]}"
            if pending is None or not blobs.exists(key):
                raise InvalidRequest(f"document {doc.id!r} names no pending upload of this client "
                                     "(POST /v1/reply-documents first; uploads expire)", document=doc.id)
            size = pending
        stored.append({"id": doc.id, "filename": doc.filename, "media_type": PDF_MEDIA_TYPE, "size": size,
                       "sha512": digests[doc.id], "storage_key": key})
    return stored

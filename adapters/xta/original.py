"""The raw original of a fetched XTA message: a manifest naming one blob per MIME part.

A getMessage response can be larger than memory should hold (MTOM attachments of a
gigabyte), so the client streams it (:mod:`.mtom_stream`): the SOAP envelope -- small, it is
parsed -- and every other MIME part go into the blob store as they arrive, byte for byte as
received (transfer encodings decoded), and the core keeps this small JSON manifest as the
inbox's raw original. It is self-describing:

.. code-block:: json

    {"format": "https://rathaus-gateway.de/formats/xta-message/1",
     "contentType": "multipart/related; type=\\"application/xop+xml\\"; boundary=...; start=...",
     "root": {"contentId": "root@x", "mediaType": "application/xop+xml", "blob": "sha512/...",
              "sha512": "...", "size": 4711},
     "parts": [{"contentId": "a@x", "mediaType": "application/pdf", "blob": "sha512/...",
                "sha512": "...", "size": 1073741824}]}

Verification reads the envelope back and resolves each XOP include to its part's blob, which
becomes the attachment's blob as it is (nothing is copied). Inbox rows written before this
format hold the whole response as one blob; :func:`open_message` still reads those.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from adapters.xta import mtom
from gateway.errors import InvalidPayload
from gateway.ports import BlobStore, InboundMessage, StoredBlob

MEDIA_TYPE = "application/vnd.rathaus-gateway.xta-message+json"
FORMAT = "https://rathaus-gateway.de/formats/xta-message/1"
MAX_MANIFEST_BYTES = 1024 * 1024


@dataclass(frozen=True)
class StoredPart:
    content_id: str | None
    media_type: str
    blob: StoredBlob

    def to_json(self) -> dict[str, Any]:
        return {"contentId": self.content_id, "mediaType": self.media_type, "blob": self.blob.key,
                "sha512": self.blob.sha512, "size": self.blob.size}

    @classmethod
    def from_json(cls, value: Any) -> StoredPart:
        if not isinstance(value, dict):
            raise ValueError("part")
        cid, media_type, key, sha512, size = (value.get(k) for k in ("contentId", "mediaType", "blob", "sha512",
                                                                     "size"))
        if not (cid is None or isinstance(cid, str)) or not isinstance(media_type, str) or not isinstance(key, str) \
                or not isinstance(sha512, str) or not isinstance(size, int) or size < 0:
            raise ValueError("part")
        return cls(cid, media_type, StoredBlob(key=key, sha512=sha512, size=size))


@dataclass
class Original:
    content_type: str  # the response's Content-Type, as received
    root: StoredPart  # the SOAP envelope
    parts: list[StoredPart] = field(default_factory=list)  # every other MIME part, in order

    @property
    def size(self) -> int:
        return self.root.blob.size + sum(p.blob.size for p in self.parts)

    @property
    def blobs(self) -> tuple[str, ...]:
        return (self.root.blob.key, *(p.blob.key for p in self.parts))

    def to_bytes(self) -> bytes:
        return orjson.dumps({"format": FORMAT, "contentType": self.content_type, "root": self.root.to_json(),
                             "parts": [p.to_json() for p in self.parts]})

    @classmethod
    def from_bytes(cls, raw: bytes) -> Original:
        try:
            if len(raw) > MAX_MANIFEST_BYTES:
                raise ValueError("too large")
            value = orjson.loads(raw)
            if not isinstance(value, dict) or value.get("format") != FORMAT \
                    or not isinstance(value.get("contentType"), str) or not isinstance(value.get("parts"), list):
                raise ValueError("unknown format")
            return cls(value["contentType"], StoredPart.from_json(value.get("root")),
                       [StoredPart.from_json(p) for p in value["parts"]])
        except (ValueError, TypeError):
            raise InvalidPayload("the stored XTA message manifest is unreadable") from None


@dataclass(frozen=True)
class Opened:
    """A stored message ready to be read: the envelope, and the binary parts by Content-ID --
    blobs (streamed in), or views into an old row's raw response."""

    root: bytes | memoryview
    parts: dict[str, StoredBlob | memoryview]


def open_message(message: InboundMessage, blobs: BlobStore, max_bytes: int, max_root_bytes: int) -> Opened:
    if message.media_type == MEDIA_TYPE:
        original = Original.from_bytes(message.payload)
        if original.size > max_bytes:
            raise InvalidPayload(f"XTA message larger than {max_bytes} bytes")
        if original.root.blob.size > max_root_bytes:
            raise InvalidPayload(f"SOAP envelope larger than {max_root_bytes} bytes")
        return Opened(blobs.get(original.root.blob.key),
                      {p.content_id: p.blob for p in original.parts if p.content_id is not None})
    # a row written before the manifest: the whole response as received, parsed in memory
    if len(message.payload) > max_bytes:
        raise InvalidPayload(f"XTA message larger than {max_bytes} bytes")
    multipart = mtom.parse(message.payload, message.media_type)
    return Opened(multipart.root.data, {cid: p.data for cid, p in multipart.parts.items()})

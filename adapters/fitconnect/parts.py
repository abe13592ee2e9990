"""The raw original of one FIT-Connect submission: a manifest plus one blob per part.

FIT-Connect spreads a submission over several resources: the submission document (with the
encrypted metadata and data), one compact JWE per attachment or fragment, and the event log.
Each is kept byte for byte as fetched, still encrypted, as its own blob in the gateway's blob
store, so verification can be repeated and audited later without asking the Zustelldienst
again; the manifest -- the inbox's raw original -- names them. It is self-describing JSON:

.. code-block:: json

    {"format": "https://rathaus-gateway.de/formats/fitconnect-submission/1",
     "apiVersion": "v2", "destinationId": "...", "submissionId": "...", "caseId": "...",
     "fetchedAt": "2026-05-04T10:00:00+00:00",
     "parts": [
       {"role": "submission", "mediaType": "application/json", "blob": "sha512/...", "size": 4711},
       {"role": "attachment", "id": "<uuid>", "mediaType": "application/jose", "blob": "sha512/...",
        "size": 270000, "tag": "<the JWE's last segment>"},
       {"role": "attachment", "id": "<uuid>", "missing": "not-found"},
       {"role": "eventLog", "mediaType": "application/json", "blob": "sha512/...", "size": 2300}]}

``tag`` is recorded while the JWE streams in, so the event log's authentication tags can be
compared before the attachment is read again; the stream decryption confirms it against the
token itself (:mod:`.verify`). ``missing`` says why an announced attachment is not there
(``not-found``; ``too-large`` for one part, ``over-total`` when the destination's total was
reached; ``not-a-uuid``): verification rejects it with the matching problem.

Parts are written through :func:`write_part`, the one place that writes to the blob store: a
stream of chunks in, a blob key out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from adapters.fitconnect.problems import problem
from adapters.fitconnect.wire import ApiVersion
from gateway.ports import BlobStore

MEDIA_TYPE = "application/vnd.rathaus-gateway.fitconnect-submission+json"
FORMAT = "https://rathaus-gateway.de/formats/fitconnect-submission/1"
JSON = "application/json"
JOSE = "application/jose"
Missing = Literal["not-found", "too-large", "over-total", "not-a-uuid"]
MAX_MANIFEST_BYTES = 1024 * 1024


@dataclass(frozen=True)
class StoredPart:
    blob: str
    size: int
    tag: str | None = None  # JWE parts: their authentication tag (last segment)


class _Tail:
    """Remembers the bytes after the last dot seen, across chunks (a JWE's tag)."""

    def __init__(self) -> None:
        self.tail = b""

    def see(self, chunk: bytes) -> None:
        dot = chunk.rfind(b".")
        self.tail = chunk[dot + 1:] if dot >= 0 else (self.tail + chunk[-128:])[-128:]


def write_part(blobs: BlobStore, chunks: Iterable[bytes], jwe: bool = False) -> StoredPart:
    """Store a stream of chunks as one blob, handed to the store's streaming write as they
    come (the store hashes them); for a JWE its tag is remembered on the way."""
    tail = _Tail()

    def seen() -> Iterator[bytes]:
        for chunk in chunks:
            tail.see(chunk)
            yield chunk

    stored = blobs.put_stream(seen() if jwe else chunks)
    tag = tail.tail.decode("ascii", "replace") if jwe else None
    return StoredPart(blob=stored.key, size=stored.size, tag=tag)


@dataclass(frozen=True)
class Part:
    role: Literal["submission", "attachment", "eventLog"]
    blob: str | None = None
    size: int = 0
    media_type: str = JSON
    id: str | None = None
    tag: str | None = None
    missing: Missing | None = None

    def to_json(self) -> dict[str, Any]:
        if self.missing is not None:
            return {"role": self.role, "missing": self.missing, **({"id": self.id} if self.id is not None else {})}
        value: dict[str, Any] = {"role": self.role, "mediaType": self.media_type, "blob": self.blob, "size": self.size}
        if self.id is not None:
            value["id"] = self.id
        if self.tag is not None:
            value["tag"] = self.tag
        return value

    @classmethod
    def from_json(cls, value: Any) -> Part:
        if not isinstance(value, dict) or value.get("role") not in ("submission", "attachment", "eventLog"):
            raise ValueError("part")
        missing = value.get("missing")
        if missing is not None:
            part_id = value.get("id")
            if missing not in ("not-found", "too-large", "over-total", "not-a-uuid") or not (
                    isinstance(part_id, str) or (part_id is None and value["role"] != "attachment")):
                raise ValueError("part")
            return cls(role=value["role"], id=part_id, missing=missing)
        blob, size = value.get("blob"), value.get("size")
        if not isinstance(blob, str) or not isinstance(size, int) or size < 0:
            raise ValueError("part")
        for optional in ("id", "tag"):
            if value.get(optional) is not None and not isinstance(value[optional], str):
                raise ValueError("part")
        return cls(role=value["role"], blob=blob, size=size, media_type=str(value.get("mediaType", JSON)),
                   id=value.get("id"), tag=value.get("tag"))


@dataclass
class Manifest:
    api_version: ApiVersion
    destination_id: str
    submission_id: str
    case_id: str
    fetched_at: str
    parts: list[Part] = field(default_factory=list)

    def to_bytes(self) -> bytes:
        return orjson.dumps({
            "format": FORMAT, "apiVersion": self.api_version, "destinationId": self.destination_id,
            "submissionId": self.submission_id, "caseId": self.case_id, "fetchedAt": self.fetched_at,
            "parts": [p.to_json() for p in self.parts]})

    @classmethod
    def from_bytes(cls, raw: bytes) -> Manifest:
        try:
            if len(raw) > MAX_MANIFEST_BYTES:
                raise ValueError("too large")
            value = orjson.loads(raw)
            if not isinstance(value, dict) or value.get("format") != FORMAT or value.get("apiVersion") not in (
                    "v1", "v2"):
                raise ValueError("unknown format")
            found = [value.get(k) for k in ("destinationId", "submissionId", "caseId", "fetchedAt")]
            if not all(isinstance(i, str) for i in found) or not isinstance(value.get("parts"), list):
                raise ValueError("ids")
            ids = [str(i) for i in found]
            return cls(api_version=value["apiVersion"], destination_id=ids[0], submission_id=ids[1],
                       case_id=ids[2], fetched_at=ids[3], parts=[Part.from_json(p) for p in value["parts"]])
        except (ValueError, TypeError):
            raise problem("technical-error", "submission", "the stored submission manifest is unreadable") from None

    def one(self, role: Literal["submission", "eventLog"]) -> Part | None:
        found = [p for p in self.parts if p.role == role]
        return found[0] if len(found) == 1 else None

    @property
    def attachments(self) -> dict[str, Part]:
        return {p.id: p for p in self.parts if p.role == "attachment" and p.id is not None}


class Parts:
    """Reading the parts of a manifest back from the blob store."""

    def __init__(self, manifest: Manifest, blobs: BlobStore) -> None:
        self.manifest, self.blobs = manifest, blobs

    def small(self, role: Literal["submission", "eventLog"], max_bytes: int) -> bytes:
        """A JSON part read whole (documents of a few MB at most, parsed anyway)."""
        part = self.manifest.one(role)
        if part is None or part.blob is None:
            return b""
        if part.size > max_bytes:
            return b""  # refused as an unusable document by the caller
        return self.blobs.get(part.blob)

    def stream(self, part: Part) -> Iterator[bytes]:
        """An attachment's JWE as a stream of chunks."""
        if part.blob is None:  # pragma: no cover - callers only stream present parts
            raise ValueError("missing part")
        return self.blobs.open(part.blob)

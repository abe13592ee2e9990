"""Decrypting and checking the content of a submission: metadata, data, attachments, fragments.

Metadata and data are JSON the gateway parses anyway: decrypted whole by joserfc
(:func:`.jose.decrypt`), within their caps. Attachments -- whole or in fragments -- are blobs:
each JWE streams from the blob store through :mod:`.jwe_stream` straight into the blob store's
streaming write (``BlobStore.put_stream``), fragments in the order the metadata lists them,
one chunk in memory at a time. The attachment's blob gets its name only once every
fragment's tag and the SHA-512 of the joined content checked out; on any failure the
store's temporary file is removed and nothing is handed on.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from adapters.fitconnect import jose, jwe_stream, wire
from adapters.fitconnect.keys import DestinationKeys
from adapters.fitconnect.metadata import AttachmentSpec, Metadata
from adapters.fitconnect.options import DestinationLimits, Limits
from adapters.fitconnect.parts import Manifest, Parts
from adapters.fitconnect.problems import problem
from gateway.errors import VerificationFailed
from gateway.ports import BlobStore, StoredBlob

LEIKA_URN = re.compile(r"^urn:de:fim:leika:leistung:(99\d{12})$")


@dataclass(frozen=True)
class Registries:
    """One JWE registry per kind of content, each with its own size caps."""

    metadata: jose.FitConnectJWERegistry
    data: jose.FitConnectJWERegistry
    attachment: jose.FitConnectJWERegistry

    @classmethod
    def from_limits(cls, limits: Limits) -> Registries:
        # base64url grows content by 4/3; the cap applies to the encoded ciphertext.
        def make(max_plain: int) -> jose.FitConnectJWERegistry:
            return jose.FitConnectJWERegistry(max_plain * 4 // 3 + 16, min(limits.max_inflated_bytes, max_plain))
        return cls(make(limits.max_metadata_bytes), make(limits.max_data_bytes), make(limits.max_attachment_bytes))


def same(expected: str, actual: str) -> bool:
    return hmac.compare_digest(expected.encode(), actual.encode())


def decrypt(token: str, keys: DestinationKeys, registry: jose.FitConnectJWERegistry, instance: str) -> bytes:
    try:
        return jose.decrypt(token, keys.for_kid, registry)
    except jose.JoseFailure as exc:
        raise problem("encryption-issue", instance, f"cannot decrypt: {exc}") from None


def parse_json(plain: bytes, instance: str) -> Any:
    try:
        return orjson.loads(plain)
    except orjson.JSONDecodeError:
        raise problem("syntax-violation", instance, f"{instance} is not valid JSON") from None


def uploads(metadata: Metadata) -> dict[str, AttachmentSpec]:
    """What the metadata says was uploaded: every whole attachment and every fragment, by id,
    each pointing at the attachment it belongs to."""
    found: dict[str, AttachmentSpec] = {}
    for spec in metadata.attachments:
        for upload in spec.fragments or (spec.id,):
            if upload in found:
                raise problem("attachments-mismatch", "metadata", "an attachment or fragment id is listed twice")
            found[upload] = spec
    return found


def check_attachment_list(metadata: Metadata, announced: list[str], limits: DestinationLimits) -> None:
    """Announced in the submission = described in the metadata (fragments by their own ids)."""
    for spec in metadata.attachments:
        if spec.fragments is not None and len(spec.fragments) > limits.max_fragments:
            raise problem("technical-error", f"attachment:{spec.id}",
                          f"the attachment has more than this destination's limit of {limits.max_fragments} fragments")
    if set(uploads(metadata)) != set(announced) or len(set(announced)) != len(announced):
        raise problem("attachments-mismatch", "metadata",
                      "attachments in the metadata differ from the attachments of the submission")
    if sum(1 for a in metadata.attachments if a.purpose == "data") > 1:
        raise problem("attachments-mismatch", "metadata", "more than one attachment carries the data")


def store_attachment(spec: AttachmentSpec, manifest: Manifest, parts: Parts, keys: DestinationKeys,
                     registry: jose.FitConnectJWERegistry, max_bytes: int, blobs: BlobStore) -> StoredBlob:
    """Decrypt an attachment (its fragments in order) into the blob store, checking every tag
    and the SHA-512 of the whole before the blob is published."""
    try:
        return blobs.put_stream(plaintext(spec, manifest, parts, keys, registry, max_bytes), sha512=spec.sha512)
    except VerificationFailed as exc:
        if "fitconnect_problem" in exc.extensions:  # raised by plaintext() itself
            raise
        raise problem("hash-mismatch", f"attachment:{spec.id}", "attachment hash differs from the metadata") from None


def read_attachment(spec: AttachmentSpec, manifest: Manifest, parts: Parts, keys: DestinationKeys,
                    registry: jose.FitConnectJWERegistry, max_bytes: int) -> bytes:
    """An attachment read whole -- only for content that is parsed anyway (``purpose: data``),
    so ``max_bytes`` bounds the memory it takes; tags and SHA-512 checked."""
    plain = b"".join(plaintext(spec, manifest, parts, keys, registry, max_bytes))
    if not same(spec.sha512, hashlib.sha512(plain).hexdigest()):
        raise problem("hash-mismatch", f"attachment:{spec.id}", "attachment hash differs from the metadata")
    return plain


def plaintext(spec: AttachmentSpec, manifest: Manifest, parts: Parts, keys: DestinationKeys,
              registry: jose.FitConnectJWERegistry, max_bytes: int) -> Iterator[bytes]:
    """The decrypted attachment as it streams, fragments joined; raises (a FIT-Connect problem)
    at the first fragment that is missing, undecryptable, tagged otherwise than the event log
    said, or beyond ``max_bytes`` -- at the latest when its last chunk was read."""
    fetched, size = manifest.attachments, 0
    for upload in spec.fragments or (spec.id,):
        part = fetched.get(upload)
        if part is None or part.blob is None or part.tag is None:
            raise problem("missing-attachment", f"attachment:{upload}", "an attachment or fragment is missing")
        pieces = jwe_stream.decrypt_chunks(parts.stream(part), keys.for_kid, registry, size=part.size)
        try:
            while True:
                piece = next(pieces)
                size += len(piece)
                if size > max_bytes:
                    raise problem("technical-error", f"attachment:{spec.id}",
                                  f"the attachment exceeds this destination's limit of {max_bytes} bytes")
                yield piece
        except StopIteration as done:
            result: jwe_stream.Decrypted = done.value
        except jose.JoseFailure as exc:
            raise problem("encryption-issue", f"attachment:{upload}", f"cannot decrypt: {exc}") from None
        if not same(part.tag, result.tag):
            raise problem("incorrect-authentication-tag", f"attachment:{upload}",
                          "authentication tag does not match the event log")


def open_inline_data(token: str, metadata: Metadata, keys: DestinationKeys,
                     registry: jose.FitConnectJWERegistry) -> bytes:
    assert metadata.data is not None
    plain = decrypt(token, keys, registry, "data")
    if not same(metadata.data.sha512, hashlib.sha512(plain).hexdigest()):
        raise problem("hash-mismatch", "data", "data hash differs from the metadata")
    return plain


def service_leika(metadata: Metadata, submission: dict[str, Any], accepted: list[str]) -> str | None:
    """LeiKa key of the metadata's service; it must agree with the service the submission announced."""
    declared = metadata.service_identifier
    announced = wire.submission_service(submission)
    if announced == "":
        raise problem("service-mismatch", "submission", "the submission announces two different services")
    if declared is None:
        declared = announced
    elif announced is not None and announced != declared:
        raise problem("service-mismatch", "metadata", "publicServiceType differs from the submission's service")
    match = LEIKA_URN.match(declared) if isinstance(declared, str) else None
    if match is None:
        raise problem("unsupported-service", "metadata", "the service is not identified by a LeiKa key")
    if accepted and match.group(1) not in accepted:
        raise problem("unsupported-service", "metadata", "this destination does not accept the service")
    return match.group(1)

"""One large attachment through the full intake, and the same bytes through the floor.

Each run: the sender's side puts the content into a sandbox (not timed); the clock starts when
the submission is there to be fetched (FIT-Connect: submitted; XTA: in the mailbox) and stops
when the gateway acknowledged it (accept-submission in the event log; the message closed). The
worker's peak resident memory is reset before and read after (``/proc/<pid>/status``, VmHWM).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from joserfc.jwk import RSAKey

from adapters.fitconnect import jose, testing, wire
from adapters.fitconnect.outbound import metadata_for
from adapters.fitconnect.sandbox.config import DEMO_DESTINATION, load_jwk
from adapters.xta import samples
from adapters.xta.sandbox.store import StoredContent, StoredMessage
from tests.perf.large.content import SealedJwe, floor_binary, floor_jwe, pseudo_random, write_file
from tests.perf.large.stack import Stack, memory, remove_large_files, reset_peak

KID = "tangerhuette-enc-2026"


@dataclass(frozen=True)
class Result:
    name: str
    size: int
    wall_s: float
    floor_s: float
    rss_before: int  # the worker's resident memory when the run started
    rss_peak: int  # its peak during the run

    @property
    def growth(self) -> int:
        return max(0, self.rss_peak - self.rss_before)

    @property
    def ratio(self) -> float:
        return self.wall_s / self.floor_s

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "growth": self.growth, "ratio": self.ratio}


def _measured(stack: Stack) -> int:
    reset_peak(stack.worker.pid)
    return memory(stack.worker.pid)["VmRSS"]


def warm_up(stack: Stack) -> None:
    """A small submission on each channel first: imports, caches and connections are then the
    worker's baseline, not part of a run's memory."""
    efa = testing.efa_sender(stack.fitconnect_url)
    created = efa.send(testing.application(api_version="v2", metadata_version="3.0.0"))
    stack.wait(lambda: "accept-submission" in stack.fitconnect.event_names(created.case_id), "FIT-Connect warm-up", 120)
    message_id = _deposit(stack, samples.WOHNGELD.fixtures()[0].read_bytes(), b"%PDF-1.7 warm-up")
    stack.wait(lambda: stack.xta.messages[message_id].closed, "XTA warm-up", 120)


# -- FIT-Connect ------------------------------------------------------------------------------


def run_fitconnect(stack: Stack, size: int, fragment_bytes: int | None) -> Result:
    """One attachment of ``size`` bytes, as one JWE or in fragments of ``fragment_bytes``."""
    name = "FIT-Connect " + ("one JWE" if fragment_bytes is None else f"fragments of {fragment_bytes >> 20} MiB")
    api = testing.sender_api(stack.fitconnect_url).with_version("v2")
    public = RSAKey.import_key(load_jwk(f"{KID}.jwk.json")).public_key
    app = dataclasses.replace(testing.application(api_version="v2", metadata_version="3.0.0"), attachments=[])
    pieces = [size] if fragment_bytes is None else \
        [min(fragment_bytes, size - start) for start in range(0, size, fragment_bytes)]
    upload_ids = [str(uuid.uuid4()) for _ in pieces]
    created = api.create_submission({"destinationId": DEMO_DESTINATION, "announcedAttachments": upload_ids,
                                     **wire.announced_service("v2", f"urn:de:fim:leika:leistung:{app.leika}",
                                                              app.service_name)})
    submission_id, case_id = str(created["submissionId"]), str(created["caseId"])
    digest, sealed = hashlib.sha512(), []
    content = _Content(pseudo_random(size, f"fitconnect-{size}-{fragment_bytes}"), digest)
    for upload_id, piece in zip(upload_ids, pieces, strict=True):
        jwe = SealedJwe(public, KID, "application/pdf")
        api.request("PUT", api.paths.attachment.format(submission_id=submission_id, attachment_id=upload_id),
                    content=jwe.chunks(content.take(piece)), headers={"Content-Type": "application/jose"})
        sealed.append(jwe)
    attachment_id = str(uuid.uuid4()) if fragment_bytes is not None else upload_ids[0]
    metadata = metadata_for(app)
    entry: dict[str, Any] = {"attachmentId": attachment_id, "hash": {"type": "sha512", "content": digest.hexdigest()},
                             "purpose": "attachment", "filename": "bauplaene.pdf", "mimeType": "application/pdf"}
    if fragment_bytes is not None:
        entry["fragments"] = upload_ids
    metadata["contentStructure"]["attachments"] = [entry]
    key = RSAKey.import_key({k: v for k, v in load_jwk(f"{KID}.jwk.json").items() if k in ("kty", "n", "e")})
    registry = jose.FitConnectJWERegistry(16 * 1024 * 1024, 16 * 1024 * 1024)
    before = _measured(stack)
    api.submit(submission_id, {"encryptedMetadata": jose.encrypt(orjson.dumps(metadata), key, KID,
                                                                 "application/json", registry),
                               "encryptedData": jose.encrypt(app.data, key, KID, "application/json", registry)})
    wall = stack.wait(lambda: "accept-submission" in stack.fitconnect.event_names(case_id), name, 3600)
    peak = memory(stack.worker.pid)["VmHWM"]
    stored = stack.fitconnect.submissions[submission_id].attachments
    floor = floor_jwe([(stored.path(upload_id), jwe) for upload_id, jwe in zip(upload_ids, sealed, strict=True)],
                      stack.tmp / "floor.out")
    _clean(stack)
    for upload_id in upload_ids:
        del stored[upload_id]
    return Result(name, size, wall, floor, before, peak)


class _Content:
    """The content stream, taken in pieces of any size (one per fragment)."""

    def __init__(self, chunks: Iterator[bytes], digest: Any) -> None:
        self.chunks, self.digest, self.rest = chunks, digest, b""

    def take(self, size: int) -> Iterator[bytes]:
        while size > 0:
            chunk = self.rest or next(self.chunks)
            piece, self.rest = chunk[:size], chunk[size:]
            self.digest.update(piece)
            size -= len(piece)
            yield piece


# -- XTA ----------------------------------------------------------------------------------------


def _deposit(stack: Stack, payload: bytes, attachment: bytes | Path) -> str:
    """A message from the state portal in the municipality's mailbox (as sendMessage stores it)."""
    message_id = stack.xta.new_message_id()
    size = len(payload) + (attachment.stat().st_size if isinstance(attachment, Path) else len(attachment))
    stack.xta.store(StoredMessage(
        samples.metadata(samples.WOHNGELD, message_id, size),
        StoredContent("application/xml", payload, "antrag.xml", encoding="UTF-8"),
        [StoredContent("application/pdf", attachment, "bauplaene.pdf")], dt.datetime.now(dt.UTC)))
    return message_id


def run_xta(stack: Stack, size: int) -> Result:
    """One MTOM attachment of ``size`` bytes (the sandbox serves it from a file)."""
    content = stack.tmp / "xta-attachment.bin"
    write_file(content, pseudo_random(size, f"xta-{size}"))
    before = _measured(stack)
    message_id = _deposit(stack, samples.WOHNGELD.fixtures()[0].read_bytes(), content)
    wall = stack.wait(lambda: stack.xta.messages[message_id].closed, "XTA MTOM", 3600)
    peak = memory(stack.worker.pid)["VmHWM"]
    floor = floor_binary(content, stack.tmp / "floor.out")
    _clean(stack)
    content.unlink()
    return Result("XTA MTOM part", size, wall, floor, before, peak)


def _clean(stack: Stack) -> None:
    (stack.tmp / "floor.out").unlink(missing_ok=True)
    remove_large_files(stack.worker.data_dir)

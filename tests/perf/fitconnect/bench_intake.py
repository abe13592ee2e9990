"""Intake CPU time of the FIT-Connect channel per submission, next to its unavoidable floor.

One submission: 50 KB data (FIM JSON; most of it one long text field), one 200 KB attachment.
Measured with ``time.process_time`` (CPU time of the whole process, all threads), in one
process, in interleaved rounds; these lines:

* floor: the four RSA-4096 private-key operations no implementation can avoid (three
  RSA-OAEP-256 key unwraps of this very submission and one PS512 signature);
* required: the floor plus the other primitives the issue asks for (``required_work``);
* required + minimal storage: the required primitives without the original's digest, plus the
  least that must be durable before the accept (``MinimalStorage``: the attachment in a new
  file, the data in one committed row) -- what a bare implementation spends before parsing,
  validating or mapping anything;
* channel: ``channel.verify`` of the raw original (manifest and parts, SET check, authentication tags,
  3 JWE decryptions, metadata/data schema validation, SHA-512 of data and attachment)
  plus signing the accept-submission SET -- the adapter's share only, the same submission
  every time;
* gateway: the full intake through the gateway, as the worker's poll hands a
  fetched submission over: ``receive`` (raw original durable, inbox row and job committed),
  then ``process`` -- verify, route through the Tangerhütte catalog, FIM mapping, commit of case,
  event and acknowledgement row in one transaction -- then the worker's outbox round (accept SET
  signed and posted, delivery recorded) -- embedded profile
  (SQLite in a temp directory), a new submission (new ids, data and attachment) every time.
  Only the Zustelldienst's HTTP is stubbed (JWKS, event log, posting the SET). Its
  wall-clock time is printed too.

Run: ``PYTHONPATH=. .venv/bin/python tests/perf/fitconnect/bench_intake.py [iterations]``
(also part of ``make bench``). Target: intake <= 1.3 x floor, shown for both lines.
Writes ``var/bench/fitconnect.json`` (summary rows for ``tests.perf.run_all``).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from adapters.fitconnect import jose, plugin, testing
from adapters.fitconnect.channel import FitConnectChannel
from adapters.fitconnect.events import authentication_tags, build_set
from adapters.fitconnect.keys import jose_key, load_own_key
from adapters.fitconnect.outbound import OutgoingAttachment, metadata_for
from adapters.fitconnect.parts import JOSE, MEDIA_TYPE, Manifest, Part, write_part
from adapters.fitconnect.sandbox.config import DEMO_DESTINATION, DEMO_ISSUER
from gateway.ports import BlobStore, InboundMessage
from gateway.store.blobs import FilesystemBlobStore
from gateway.store.files import fsync_dir

DATA_BYTES = 50 * 1024
ATTACHMENT_BYTES = 200 * 1024
ROUNDS = 8
TARGET = 1.30
OUT = testing.REPO / "var" / "bench" / "fitconnect.json"


class OfflineApi:
    """Stands in for the Zustelldienst: JWKS (read once, then cached), an empty event log, posts dropped."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        self.jwks = jwks
        self.posted = 0

    def get_jwks(self, url: str) -> dict[str, Any]:
        return self.jwks

    def with_version(self, version: str) -> OfflineApi:
        return self

    def get_events(self, case_id: str, submission_id: str) -> list[str]:
        return []

    def post_event(self, case_id: str, submission_id: str, token: str) -> None:
        self.posted += 1


class Submissions:
    """Builds submissions as the sandbox would hand them over (encrypted, with a signed submit SET)."""

    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs
        enc = load_own_key(testing.KEY_DIR / "tangerhuette-enc-2026.jwk.json", "encryption")
        self.kid, self.public = enc.kid, jose_key(enc.public_jwk)
        self.zustelldienst = load_own_key(testing.KEY_DIR / "zustelldienst-sig.jwk.json", "signature")
        self.registry = jose.FitConnectJWERegistry(10**8, 10**8)
        self.document = orjson.loads((testing.APPLICATIONS / "gewerbe-anmelden-gmbh.json").read_bytes())

    def offline_api(self) -> OfflineApi:
        return OfflineApi({"keys": [self.zustelldienst.public_jwk]})

    def message(self, index: int = 0) -> InboundMessage:
        document = json.loads(json.dumps(self.document))
        filler = DATA_BYTES - len(orjson.dumps(document))
        text = f"Betrieb {index}: " + "Zimmerei, Holzbau, Dachdeckerarbeiten und Innenausbau. " * 2000
        document["G17003540"]["F17010044"] = text[:filler]
        data = orjson.dumps(document)
        attachment = OutgoingAttachment(attachment_id=str(uuid.uuid4()), filename="plan.pdf",
                                        media_type="application/pdf", content=os.urandom(ATTACHMENT_BYTES))
        app = testing.application("gewerbe-anmelden-gmbh", data=data)
        app = app.__class__(**{**app.__dict__, "attachments": [attachment]})
        metadata = self._encrypt(orjson.dumps(metadata_for(app)), "application/json")
        encrypted_data = self._encrypt(data, "application/json")
        encrypted_attachment = self._encrypt(attachment.content, "application/pdf")
        submission_id, case_id = str(uuid.uuid4()), str(uuid.uuid4())
        tags = authentication_tags(metadata, encrypted_data,
                                   {attachment.attachment_id: jose.authentication_tag(encrypted_attachment)})
        submit = build_set("submit-submission", DEMO_ISSUER, submission_id, case_id, {"authenticationTags": tags},
                           self.zustelldienst)
        submission = {"destinationId": DEMO_DESTINATION, "submissionId": submission_id, "caseId": case_id,
                      "serviceType": {"name": app.service_name,
                                      "identifier": f"urn:de:fim:leika:leistung:{app.leika}"},
                      "attachments": [attachment.attachment_id], "encryptedMetadata": metadata,
                      "encryptedData": encrypted_data}
        now = dt.datetime.now(dt.UTC)
        document = write_part(self.blobs, [orjson.dumps(submission)])
        stored = write_part(self.blobs, [encrypted_attachment.encode()], jwe=True)
        log = write_part(self.blobs, [orjson.dumps({"eventLog": [submit]})])
        manifest = Manifest(api_version="v1", destination_id=DEMO_DESTINATION, submission_id=submission_id,
                            case_id=case_id, fetched_at=now.isoformat(), parts=[
                                Part(role="submission", blob=document.blob, size=document.size),
                                Part(role="attachment", id=attachment.attachment_id, blob=stored.blob,
                                     size=stored.size, media_type=JOSE, tag=stored.tag),
                                Part(role="eventLog", blob=log.blob, size=log.size)])
        return InboundMessage(channel="fitconnect", source_id=submission_id, payload=manifest.to_bytes(),
                              media_type=MEDIA_TYPE, received_at=now, tenant_ars=testing.TENANT_ARS,
                              references={"caseId": case_id, "destinationId": DEMO_DESTINATION})

    def _encrypt(self, plaintext: bytes, media_type: str) -> str:
        return jose.encrypt(plaintext, self.public, self.kid, media_type, self.registry)


def channel_once(wiring: plugin.Wiring, message: InboundMessage) -> None:
    verified = wiring.channel.verify(message)
    assert verified.attachments
    # acknowledge, later and from the outbox: parse the stored original again, sign the SET
    wiring.channel.accept_token(Manifest.from_bytes(message.payload))


def gateway_once(gateway: Any, message: InboundMessage) -> None:
    """What the worker does with a submission its poll fetched: ``receive`` (raw original
    durable, inbox row and job), ``process`` (verify, map, commit the case and the
    acknowledgement's outbox row), then its outbox round (the accept SET signed and posted)."""
    outcome = gateway.pipeline.process(gateway.pipeline.receive(message).inbox_id)
    assert outcome.state == "committed" and not outcome.duplicate, outcome
    assert gateway.dispatcher.run_due() == 1


def floor_once(wiring: plugin.Wiring, wrapped: list[bytes], signing_input: bytes) -> None:
    keys = wiring.channel.keys[wiring.options.destinations[0].id]
    private = next(iter(keys.decryption.values())).key.private_key
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    for ek in wrapped:
        private.decrypt(ek, oaep)  # type: ignore[union-attr]
    signer = keys.signing.key.private_key
    signer.sign(signing_input, padding.PSS(mgf=padding.MGF1(hashes.SHA512()),  # type: ignore[union-attr]
                                           salt_length=64), hashes.SHA512())


def _b64(segment: bytes) -> bytes:
    return base64.urlsafe_b64decode(segment + b"=" * (-len(segment) % 4))


def required_work(wiring: plugin.Wiring, submissions: Submissions, message: InboundMessage, tokens: list[str],
                  signing_input: bytes, original_digest: bool = True) -> Callable[[], list[bytes]]:
    """The floor plus the primitives the issue itself asks for on every submission, each done
    once with ``cryptography``/hashlib directly: AES-256-GCM decryption (with base64url decoding)
    of metadata, data and attachment; SHA-512 of data and attachment (checked against the
    metadata); PS512 verification of the submit-submission SET; SHA-512 of the raw original (the
    case's evidence digest; left out with ``original_digest=False``). What any implementation
    spends before parsing, mapping or storing."""
    keys = wiring.channel.keys[wiring.options.destinations[0].id]
    private = next(iter(keys.decryption.values())).key.private_key
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    sealed = []
    for token in tokens:
        protected, wrapped, iv, ciphertext, tag = token.encode().split(b".")
        cek = private.decrypt(_b64(wrapped), oaep)  # type: ignore[union-attr]
        sealed.append((AESGCM(cek), protected, iv, ciphertext, tag))
    manifest = Manifest.from_bytes(message.payload)
    log = next(p for p in manifest.parts if p.role == "eventLog")
    submit = json.loads(submissions.blobs.get(log.blob or ""))["eventLog"][0].encode()
    head, body, signature = submit.split(b".")
    zustelldienst = submissions.zustelldienst.key.private_key.public_key()  # type: ignore[union-attr]
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=64)
    wrapped_keys = [_b64(t.encode().split(b".")[1]) for t in tokens]
    raw = message.payload

    def required() -> list[bytes]:
        floor_once(wiring, wrapped_keys, signing_input)
        plain = [gcm.decrypt(_b64(iv), _b64(ciphertext) + _b64(tag), protected)
                 for gcm, protected, iv, ciphertext, tag in sealed]
        for content in plain[1:]:  # data and attachment: their hashes are in the metadata
            hashlib.sha512(content).digest()
        zustelldienst.verify(_b64(signature), head + b"." + body, pss, hashes.SHA512())
        if original_digest:
            hashlib.sha512(raw).digest()
        return plain

    return required


class MinimalStorage:
    """The least any implementation must make durable before it may send the accept (after the
    accept the Zustelldienst may delete the submission): the application's content itself --
    the decrypted attachment in a new file (written, fsync'd, renamed, folder fsync'd, as the
    gateway's blob store does) and one row holding the decrypted data, committed in one
    transaction (``sqlite3`` directly, WAL and ``synchronous=FULL`` as the embedded profile; no
    SQLAlchemy, no index, no other row, no copy of the raw original)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True)
        self.folder, self.count = folder, 0
        self.db = sqlite3.connect(folder / "minimal.db", isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("CREATE TABLE cases (id INTEGER PRIMARY KEY, document BLOB NOT NULL)")

    def store(self, data: bytes, attachment: bytes) -> None:
        self.count += 1
        tmp, final = self.folder / f".tmp-{self.count}", self.folder / f"attachment-{self.count}"
        with tmp.open("wb") as handle:
            handle.write(attachment)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, final)
        fsync_dir(self.folder)
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute("INSERT INTO cases (id, document) VALUES (?, ?)", (self.count, data))
        self.db.execute("COMMIT")

    def close(self) -> None:
        self.db.close()


def measure(fn: Callable[[], object], iterations: int) -> tuple[float, float]:
    """CPU and wall seconds per call (no warm-up here: see ``main``)."""
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(iterations):
        fn()
    return (time.process_time() - cpu) / iterations, (time.perf_counter() - wall) / iterations


def make_gateway(data_dir: Path, options: dict[str, Any], submissions: Submissions) -> Any:
    from gateway.bootstrap import Gateway
    from gateway.config import Settings

    settings = Settings(data_dir=data_dir, adapters={"fitconnect": options}, poll_interval_seconds=3600)
    gateway = Gateway.create(settings)
    channel = gateway.adapters.channels.get("fitconnect")
    assert isinstance(channel, FitConnectChannel)
    channel.api = channel.events.api = submissions.offline_api()  # type: ignore[assignment]
    # the parts of the prepared submissions are in the benchmark's blob store (fetching is not measured)
    channel.blobs = channel.verifier.blobs = submissions.blobs
    return gateway


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def _row(metric: str, value: float, floor: float, ratio: float) -> dict[str, Any]:
    return {"metric": metric, "value": round(value * 1000, 3), "floor": round(floor * 1000, 3),
            "ratio": round(ratio, 3), "target": f"<={TARGET:.2f}", "pass": ratio <= TARGET}


def main(iterations: int = 200) -> dict[str, Any]:
    per_round = max(1, iterations // ROUNDS)
    blob_dir = tempfile.TemporaryDirectory()
    submissions = Submissions(FilesystemBlobStore(Path(blob_dir.name)))
    options = testing.gateway_options("http://offline.invalid")
    wiring = plugin.build(plugin.parse_options(options), testing.REPO, testing.MemoryStateStore(), submissions.blobs)
    wiring.channel.events.api = submissions.offline_api()  # type: ignore[assignment]
    same = submissions.message()
    manifest = Manifest.from_bytes(same.payload)
    document = orjson.loads(submissions.blobs.get(manifest.parts[0].blob or ""))
    tokens = [document["encryptedMetadata"], document["encryptedData"],
              *(submissions.blobs.get(p.blob or "").decode() for p in manifest.parts if p.role == "attachment")]
    wrapped = [base64.urlsafe_b64decode(t.split(".")[1] + "==") for t in tokens if t]
    signing_input = b"x" * 600  # the size of an accept-submission SET's signing input
    warm = max(3, per_round // 4)
    print(f"building {per_round * ROUNDS + warm} distinct submissions for the gateway line ...", flush=True)
    fresh = iter([submissions.message(i) for i in range(per_round * ROUNDS + warm)])
    required = required_work(wiring, submissions, same, tokens, signing_input)
    bare = required_work(wiring, submissions, same, tokens, signing_input, original_digest=False)
    with tempfile.TemporaryDirectory() as tmp:
        gateway = make_gateway(Path(tmp) / "gateway", options, submissions)
        minimal = MinimalStorage(Path(tmp) / "minimal")

        def required_and_stored() -> None:
            _, data, attachment = bare()
            minimal.store(data, attachment)

        try:
            for _ in range(warm):  # caches, JWKS, allocator, SQLite pages, mapping compiled
                floor_once(wiring, wrapped, signing_input)
                channel_once(wiring, same)
                gateway_once(gateway, next(fresh))
            # Interleaved rounds: load from other processes on the machine hits all lines alike
            # within a round; medians of the per-round figures and ratios are reported.
            floors, channels, gateways, walls, requireds, storeds = [], [], [], [], [], []
            for _ in range(ROUNDS):
                floors.append(measure(lambda: floor_once(wiring, wrapped, signing_input), per_round)[0])
                requireds.append(measure(required, per_round)[0])
                storeds.append(measure(required_and_stored, per_round)[0])
                channels.append(measure(lambda: channel_once(wiring, same), per_round)[0])
                cpu, wall = measure(lambda: gateway_once(gateway, next(fresh)), per_round)
                gateways.append(cpu)
                walls.append(wall)
            with gateway.db.reading() as conn:
                from sqlalchemy import text

                states = dict(conn.execute(text("SELECT state, count(*) FROM inbox GROUP BY state")).all())
        finally:
            gateway.close()
            minimal.close()
    expected = per_round * ROUNDS + warm
    assert states == {"acknowledged": expected}, f"not every submission became an acknowledged case: {states}"
    channel_ratios = sorted(c / f for c, f in zip(channels, floors, strict=True))
    gateway_ratios = sorted(g / f for g, f in zip(gateways, floors, strict=True))
    required_ratios = sorted(r / f for r, f in zip(requireds, floors, strict=True))
    stored_ratios = sorted(r / f for r, f in zip(storeds, floors, strict=True))
    floor, channel, full, wall, needed, stored = (statistics.median(v)
                                                  for v in (floors, channels, gateways, walls, requireds, storeds))
    machine = f"{os.cpu_count()} CPUs {_cpu_model()}, Python {platform.python_version()}"
    print(f"submission: data {DATA_BYTES // 1024} KB, 1 attachment {ATTACHMENT_BYTES // 1024} KB; "
          f"{per_round * ROUNDS} iterations per line in {ROUNDS} interleaved rounds (CPU time, "
          f"time.process_time); {machine}")
    print(f"floor   (3x RSA-OAEP-256 unwrap + 1x PS512 sign, RSA-4096):     {floor * 1000:8.3f} ms")
    print(f"required (floor + AES-GCM, SHA-512 x3, SET check, as above): {needed * 1000:8.3f} ms  "
          f"ratio {statistics.median(required_ratios):.2f}x ({required_ratios[0]:.2f}x..{required_ratios[-1]:.2f}x)")
    print(f"required + minimal storage (attachment file, data row):       {stored * 1000:8.3f} ms  "
          f"ratio {statistics.median(stored_ratios):.2f}x ({stored_ratios[0]:.2f}x..{stored_ratios[-1]:.2f}x)")
    print(f"channel (verify + accept SET, no HTTP):                        {channel * 1000:8.3f} ms  "
          f"ratio {statistics.median(channel_ratios):.2f}x ({channel_ratios[0]:.2f}x..{channel_ratios[-1]:.2f}x)")
    print(f"gateway (receive, process, outbox round: accept):              {full * 1000:8.3f} ms  "
          f"ratio {statistics.median(gateway_ratios):.2f}x ({gateway_ratios[0]:.2f}x..{gateway_ratios[-1]:.2f}x); "
          f"wall {wall * 1000:.3f} ms")
    print(f"target: intake <= {TARGET:.2f}x floor (medians of the per-round ratios)")
    result = {
        "machine": machine, "iterations_per_line": per_round * ROUNDS, "rounds": ROUNDS,
        "summary": [
            {**_row("fitconnect required primitives CPU ms/submission (floor + AES-GCM, SHA-512, SET check)",
                    needed, floor, statistics.median(required_ratios)), "target": "", "pass": None},
            {**_row("fitconnect required + minimal storage CPU ms/submission (attachment file + data row via sqlite3)",
                    stored, floor, statistics.median(stored_ratios)), "target": "", "pass": None},
            _row("fitconnect channel CPU ms/submission (verify + accept SET)", channel, floor,
                 statistics.median(channel_ratios)),
            _row("fitconnect gateway intake CPU ms/submission (submit..acknowledge)", full, floor,
                 statistics.median(gateway_ratios)),
        ],
        "gateway_wall_ms": round(wall * 1000, 3),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return result


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)

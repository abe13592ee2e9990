"""3,000 decisions with a 200 KB PDF each to the citizen postbox sandbox, end to end.

Each decision is *committed* (the PDF made durable in the blob store, one reply row committed
durably), then *delivered* by the ``postbox`` reply channel (envelope signed, metadata, data and
document JWE-encrypted for the ZBP bridge, the submission created -- its ids recorded in the
gateway database -- uploaded and submitted over HTTP to the sandbox Zustelldienst in its own
process), then *followed* until the bridge's ``accept-submission`` is in its event log. Checked:
every decision accepted, each in its citizen's mailbox exactly once.

Reported (CPU of this process, i.e. the gateway's, ``time.process_time``; the sandbox's CPU is
shown apart): CPU per delivered decision next to the floor of the same run (see
``postbox_floor.Floor``), in interleaved rounds (the floor is timed on decisions of each round
right after it), as a ratio, target <= 2.5; the PyPI SDK ``fitconnect`` 0.4.2's ``submission()``
work for the same data and document; the wall time.

The core's reply API is being built elsewhere: until it lands, *committed* is
:class:`SqliteReplyRows` (what that API will at least do). To measure through the core instead,
give ``run`` another :class:`ReplyCommitter` -- one that posts to ``/v1/cases/{id}/replies``
and hands back the delivery the core's outbox passes to the channel.

    .venv/bin/python -m tests.perf.fitconnect.bench_postbox [--quick] [--decisions N] [--workers W]

Writes ``var/bench/postbox.json`` (summary rows for ``tests.perf.run_all``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
import orjson

from adapters.fitconnect import plugin, testing, zbp
from adapters.fitconnect.keys import private_key_from_jwk
from adapters.fitconnect.outbound import metadata_for
from adapters.fitconnect.postbox import PostboxChannel
from adapters.fitconnect.sandbox.config import ZBP_DESTINATION, load_jwk
from gateway.case.model import Case
from gateway.migrations import upgrade
from gateway.ports import BlobStore, DeliveryReport, OutgoingReply, ReplyDocument
from gateway.store.blobs import FilesystemBlobStore
from gateway.store.db import Database
from gateway.store.files import fsync_dir
from gateway.store.state_repo import SqlStateStore
from tests.perf.fitconnect.postbox_floor import Floor, Inputs, sdk_client, sdk_submission
from tests.support.servers import free_port

PDF_BYTES = 200 * 1024
TARGET = 2.5
OUT = testing.REPO / "var" / "bench" / "postbox.json"


class ReplyCommitter(Protocol):
    def commit(self, case: Case, mailbox: str, index: int) -> OutgoingReply:
        """Commit one decision durably; the delivery the outbox then hands to the channel."""


class SqliteReplyRows:
    """The stand-in for the core's reply API: the PDF durably in the blob store (hashed while
    stored, as an upload is), then one reply row committed (``sqlite3``, WAL, ``synchronous=FULL``)."""

    def __init__(self, folder: Path, blobs: BlobStore) -> None:
        self.blobs, self.path, self.local = blobs, folder / "replies.db", threading.local()
        self._db().execute("CREATE TABLE replies (id TEXT PRIMARY KEY, case_id TEXT NOT NULL, "
                           "delivery_id TEXT NOT NULL, row BLOB NOT NULL)")
        fsync_dir(folder)

    def _db(self) -> sqlite3.Connection:
        """One connection per thread, as a pool hands them out."""
        if not hasattr(self.local, "db"):
            self.local.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self.local.db.execute("PRAGMA journal_mode=WAL")
            self.local.db.execute("PRAGMA synchronous=FULL")
        db: sqlite3.Connection = self.local.db
        return db

    def commit(self, case: Case, mailbox: str, index: int) -> OutgoingReply:
        pdf = testing.test_pdf(f"{case.reference} {index}", PDF_BYTES)  # local processing's PDF
        stored = self.blobs.put_stream([pdf])
        reply_id = str(uuid.uuid4())
        document = ReplyDocument(id="bescheid", filename="bescheid.pdf", media_type="application/pdf",
                                 size=stored.size, sha512=stored.sha512, storage_key=stored.key)
        reply = OutgoingReply(reply_id=reply_id, delivery_id=f"{reply_id}/postbox", kind="decision",
                              title="Bescheid über Ihre Gewerbeanmeldung",
                              text=f"Ihre Gewerbeanmeldung {case.reference} ist bestätigt. (TEST)",
                              documents=(document,), case=case, recipient=mailbox)
        row = orjson.dumps({"kind": reply.kind, "title": reply.title, "document": stored.key, "channel": "postbox"})
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO replies VALUES (?, ?, ?, ?)", (reply_id, str(case.id), reply.delivery_id, row))
        db.execute("COMMIT")
        return reply


@contextlib.contextmanager
def sandbox_process() -> Iterator[tuple[str, int]]:
    """The sandbox Zustelldienst with the ZBP bridge, in a process of its own (its CPU is not the gateway's)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "adapters.fitconnect.sandbox.app:create_app", "--factory",
                             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"],
                            cwd=testing.REPO, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the sandbox did not start")
            time.sleep(0.1)
        yield url, proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Round:
    decisions: int
    cpu: float  # gateway CPU seconds for commit + deliver of the round
    floor: float  # floor CPU seconds per decision, timed on decisions of the round

    @property
    def ratio(self) -> float:
        return self.cpu / self.decisions / self.floor


def inputs_for(channel: PostboxChannel, reply: OutgoingReply, blobs: BlobStore) -> Inputs:
    """The bytes the floor works on: exactly what the channel builds for this decision."""
    app = channel.application(reply, blobs)
    envelope = orjson.loads(app.data)
    return Inputs(content=envelope["content"].encode(), token_input=envelope["authorToken"].rsplit(".", 1)[0].encode(),
                  metadata=orjson.dumps(metadata_for(app)), envelope=app.data, document=app.attachments[0].content)


def wait_until_decided(url: str, expected: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        counts = httpx.get(f"{url}/postbox/api/mailboxes", timeout=30).json()
        if counts["messages"] + counts["rejected"] >= expected:
            return
        time.sleep(0.25)


def run(decisions: int, workers: int, rounds: int, floor_samples: int, sdk_samples: int,
        committer_factory: Any = SqliteReplyRows) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-postbox-") as tmp, sandbox_process() as (url, sandbox_pid):
        folder = Path(tmp)
        db_url = f"sqlite:///{folder / 'gateway.db'}"
        upgrade(db_url)
        state = SqlStateStore(Database(db_url), lambda: dt.datetime.now(dt.UTC))
        blobs = FilesystemBlobStore(folder / "blobs")
        options = plugin.parse_options(testing.gateway_options(url, postbox=testing.postbox_options()))
        wiring = plugin.build(options, testing.REPO, state, blobs)
        channel = wiring.postbox
        assert channel is not None
        committer: ReplyCommitter = committer_factory(folder, blobs)
        enc = load_jwk("zbp-enc-2026.jwk.json")
        floor = Floor(folder / "floor", channel.author.key,
                      private_key_from_jwk(enc).public_key(), str(enc["kid"]))
        mailboxes = [str(uuid.uuid4()) for _ in range(max(1, min(50, decisions // 10)))]
        cases = [testing.make_case(blobs, mailbox=mailboxes[i % len(mailboxes)]) for i in range(decisions)]
        warm = [testing.make_case(blobs, mailbox=str(uuid.uuid4())) for _ in range(3)]

        def commit_and_deliver(item: tuple[int, Case]) -> tuple[OutgoingReply, DeliveryReport]:
            index, case = item
            reply = committer.commit(case, str(case.applicant.account.postbox_reference), index)  # type: ignore[union-attr]
            return reply, channel.deliver(reply, blobs)

        for n, case in enumerate(warm):  # token, keys, connections, SQLite pages
            reply, _ = commit_and_deliver((-1 - n, case))
            floor.once(inputs_for(channel, reply, blobs))
        sandbox_cpu = process_cpu(sandbox_pid)
        results: list[tuple[OutgoingReply, DeliveryReport]] = []
        measured: list[Round] = []
        per_round = -(-decisions // rounds)
        started = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            for start in range(0, decisions, per_round):
                chunk = list(enumerate(cases[start:start + per_round], start))
                cpu = time.process_time()
                done = list(pool.map(commit_and_deliver, chunk))
                cpu = time.process_time() - cpu
                results += done
                sample = [inputs_for(channel, reply, blobs) for reply, _ in done[:floor_samples]]
                floor_cpu = time.process_time()
                for inputs in sample:
                    floor.once(inputs)
                measured.append(Round(len(chunk), cpu, (time.process_time() - floor_cpu) / len(sample)))
            delivered = time.perf_counter()
            wait_until_decided(url, decisions + len(warm), 120 + decisions * 0.2)
            follow_cpu = time.process_time()
            reports = list(pool.map(lambda pair: channel.follow(pair[0], pair[1]), results))
            follow_cpu = time.process_time() - follow_cpu
        wall = time.perf_counter() - started
        sandbox_cpu = process_cpu(sandbox_pid) - sandbox_cpu
        check = verify_outcome(url, results, reports, mailboxes, state)
        sdk = measure_sdk(channel, blobs, [reply for reply, _ in results[:sdk_samples]], enc)
        floor.close()
        return summarize(decisions, workers, measured, follow_cpu, wall, delivered - started, sandbox_cpu, sdk, check)


def verify_outcome(url: str, results: list[tuple[OutgoingReply, DeliveryReport]], reports: list[DeliveryReport],
                   mailboxes: list[str], state: SqlStateStore) -> dict[str, Any]:
    """Every decision accepted, each exactly once in its citizen's mailbox, one submission each."""
    accepted = sum(1 for r in reports if r.state == "accepted")
    filed: dict[str, int] = {}
    for mailbox in mailboxes:
        for message in httpx.get(f"{url}/postbox/api/mailboxes/{mailbox}/messages", timeout=60).json()["messages"]:
            filed[message["reference"]] = filed.get(message["reference"], 0) + 1
    expected = {reply.case.reference for reply, _ in results}
    twice = sum(1 for n in filed.values() if n > 1)
    recorded = len({state.get("fitconnect.postbox", reply.delivery_id)["submissionId"]  # type: ignore[index]
                    for reply, _ in results})
    return {"delivered": len(results), "accepted": accepted, "filed": sum(filed.values()), "twice": twice,
            "missing": len(expected - set(filed)), "submissions": recorded,
            "rejected": httpx.get(f"{url}/postbox/api/rejected", timeout=30).json()["rejected"][:3],
            "ok": accepted == len(results) == len(filed) == recorded and twice == 0 and set(filed) == expected}


def measure_sdk(channel: PostboxChannel, blobs: BlobStore, replies: list[OutgoingReply],
                enc: dict[str, Any]) -> float | None:
    """CPU seconds per ``submission()`` of the PyPI SDK for the same data and document."""
    if not replies:
        return None
    client = sdk_client(enc)
    samples = [inputs_for(channel, reply, blobs) for reply in replies]
    sdk_submission(client, ZBP_DESTINATION, samples[0].envelope, samples[0].document, zbp.SCHEMA_URI)  # warm-up
    cpu = time.process_time()
    for inputs in samples:
        sdk_submission(client, ZBP_DESTINATION, inputs.envelope, inputs.document, zbp.SCHEMA_URI)
    return (time.process_time() - cpu) / len(samples)


def summarize(decisions: int, workers: int, rounds: list[Round], follow_cpu: float, wall: float, deliver_wall: float,
              sandbox_cpu: float, sdk: float | None, check: dict[str, Any]) -> dict[str, Any]:
    floor = statistics.median(r.floor for r in rounds)
    deliver = statistics.median(r.cpu / r.decisions for r in rounds)
    follow = follow_cpu / decisions
    total = deliver + follow
    ratio = statistics.median((r.cpu / r.decisions + follow) / r.floor for r in rounds)
    ms = 1000.0
    rows = [
        {"metric": f"postbox: {decisions} decisions accepted, each once", "value": check["accepted"], "floor": None,
         "ratio": None, "target": str(decisions), "pass": check["ok"]},
        {"metric": "postbox: gateway CPU ms per decision (commit+deliver+follow)", "value": round(total * ms, 2),
         "floor": round(floor * ms, 2), "ratio": round(ratio, 2), "target": f"<={TARGET}", "pass": ratio <= TARGET},
        {"metric": "postbox:   of which commit+deliver", "value": round(deliver * ms, 2), "floor": round(floor * ms, 2),
         "ratio": round(deliver / floor, 2), "target": "", "pass": None},
        {"metric": "postbox:   of which follow (event log, accept SET verified)", "value": round(follow * ms, 2),
         "floor": None, "ratio": None, "target": "", "pass": None},
        {"metric": "postbox: PyPI fitconnect 0.4.2 submission() CPU ms (no network, signs nothing)",
         "value": round(sdk * ms, 2) if sdk is not None else None, "floor": round(floor * ms, 2),
         "ratio": round(sdk / floor, 2) if sdk is not None else None, "target": "", "pass": None},
        {"metric": "postbox: sandbox CPU ms per decision (other process, not counted)",
         "value": round(sandbox_cpu / decisions * ms, 2), "floor": None, "ratio": None, "target": "", "pass": None},
        {"metric": f"postbox: wall s, {decisions} decisions end to end ({workers} threads)", "value": round(wall, 1),
         "floor": None, "ratio": None, "target": "", "pass": None},
    ]
    return {"summary": rows, "rounds": [{"decisions": r.decisions, "cpu_ms_per_decision": r.cpu / r.decisions * ms,
                                         "floor_ms": r.floor * ms, "ratio": r.ratio} for r in rounds],
            "deliver_wall_s": deliver_wall, "check": check}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20 decisions: a smoke test of the benchmark")
    parser.add_argument("--decisions", type=int, default=None)
    parser.add_argument("--workers", type=int, default=2, help="delivering threads (the machine has 2 cores)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    decisions = args.decisions or (20 if args.quick else 3000)
    rounds = 2 if decisions <= 100 else 6
    result = run(decisions, args.workers, rounds, floor_samples=10 if args.quick else 50,
                 sdk_samples=5 if args.quick else 100)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str))
    for row in result["summary"]:
        print(f"{row['metric']:<80} {row['value']!s:>9} {row['floor']!s:>7} {row['ratio']!s:>6} "
              f"{row['target']:>6} {'' if row['pass'] is None else ('pass' if row['pass'] else 'FAIL')}")
    return result


if __name__ == "__main__":
    sys.exit(0 if main()["check"]["ok"] else 1)

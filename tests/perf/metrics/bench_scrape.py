"""``GET /metrics`` with 100,000 cases in the store (issue 13, item 8: p95 <= 200 ms).

    .venv/bin/python -m tests.perf.metrics.bench_scrape [--cases 100000] [--scrapes 200] [--pg URL]

Seeds a gateway's store directly (the cases, their acknowledged inbox entries, a webhook and
an acknowledgement outbox row each, all done — plus a little open, retrying and dead work on
every channel), then scrapes ``/metrics`` over HTTP on 127.0.0.1 as Prometheus would, one
scrape at a time, in multiprocess mode as ``serve`` runs it. Prints p50/p95/max and writes
``var/bench/metrics.json`` in the summary format of ``tests/perf/run_all.py``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
TARGET_MS = 200.0
TOKEN = "metrics-bench-token-0123456789abcdef0123"
CHUNK = 5_000


def seed(gw: Any, cases: int) -> None:
    from sqlalchemy import insert

    from gateway.store.tables import cases as cases_table
    from gateway.store.tables import inbox, outbox

    now = dt.datetime.now(dt.UTC)
    channels = ["portal", "fitconnect", "xta"]
    for start in range(0, cases, CHUNK):
        inbox_rows, case_rows, outbox_rows = [], [], []
        for n in range(start, min(start + CHUNK, cases)):
            inbox_id, case_id, channel = str(uuid.uuid4()), str(uuid.uuid4()), channels[n % 3]
            at = now - dt.timedelta(seconds=cases - n)
            state = "committed" if channel == "portal" else "acknowledged"
            inbox_rows.append({
                "id": inbox_id, "channel": channel, "source_id": f"bench-{n}", "tenant_ars": "150905350535",
                "received_at": at, "media_type": "application/json", "raw_key": "sha512/" + "0" * 128,
                "raw_sha512": "0" * 128, "raw_size": 1000, "references": {}, "state": state, "attempts": 0,
                "case_id": case_id, "updated_at": at, "correlation_id": uuid.uuid4().hex})
            case_rows.append({"id": case_id, "inbox_id": inbox_id, "tenant_ars": "150905350535",
                              "reference": f"TGH-2026-{n:07d}", "service_leika": "99050012104000", "channel": channel,
                              "status": "received", "routing_queue": "gewerbeamt", "received_at": at, "version": 1,
                              "document": "{}"})
            kinds = [("webhook", "fachverfahren")] + ([("ack", channel)] if channel != "portal" else [])
            for kind, target in kinds:
                outbox_rows.append({"kind": kind, "target": target, "inbox_id": inbox_id, "case_id": case_id,
                                    "payload": {}, "state": "done", "attempts": 1, "next_attempt_at": at,
                                    "created_at": at, "done_at": at})
        with gw.db.transaction() as uow:
            uow.conn.execute(insert(inbox), inbox_rows)
            uow.conn.execute(insert(cases_table), case_rows)
            uow.conn.execute(insert(outbox), outbox_rows)
    with gw.db.transaction() as uow:  # some work that waits, retries or is dead
        for n, channel in enumerate(channels * 20):
            state = ("received", "retry", "dead", "quarantined")[n % 4]
            uow.conn.execute(insert(inbox), {
                "id": str(uuid.uuid4()), "channel": channel, "source_id": f"open-{n}", "tenant_ars": "150905350535",
                "received_at": now, "media_type": "application/json", "raw_key": "sha512/" + "0" * 128,
                "raw_sha512": "0" * 128, "raw_size": 1, "references": {}, "state": state, "attempts": 1,
                "next_attempt_at": now, "updated_at": now})
            uow.conn.execute(insert(outbox), {
                "kind": "webhook", "target": "fachverfahren", "payload": {}, "state": "pending" if n % 3 else "dead",
                "attempts": 1, "next_attempt_at": now, "created_at": now})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--scrapes", type=int, default=200)
    parser.add_argument("--pg", help="a PostgreSQL URL (an empty database or schema) instead of SQLite")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        from gateway.metrics import directory

        directory.use(Path(tmp) / "metrics", clear=True)  # as `serve` does, before anything counts
        import httpx

        from gateway.api.app import create_app
        from gateway.bootstrap import Gateway
        from gateway.config import Settings
        from gateway.metrics import instruments
        from tests.conftest import TEST_MASTER_KEY
        from tests.support.servers import serve_app

        os.environ.pop("RG_CONFIG_FILE", None)
        settings = Settings(data_dir=Path(tmp) / "data", database_url=args.pg, durability="process",
                            metrics={"token": TOKEN}, mappings_dir=REPO / "mappings",
                            webhooks=[{"name": "fachverfahren", "url": "http://127.0.0.1:9/h", "secret": "s" * 32}],
                            adapters={"portal": {}}, at_rest={"master_keys": [TEST_MASTER_KEY]})
        gw = Gateway.create(settings)
        started = time.perf_counter()
        seed(gw, args.cases)
        print(f"seeded {args.cases} cases in {time.perf_counter() - started:.1f} s", flush=True)
        for channel in ("portal", "fitconnect", "xta"):  # counters of the kinds a running gateway has
            instruments.committed(channel, "99050012104000", 0.05)
            instruments.delivery("webhook", "fachverfahren", "delivered", 0.2)
        timings: list[float] = []
        with serve_app(create_app(gw)) as base, httpx.Client(base_url=base, timeout=30) as http:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            size = len(http.get("/metrics", headers=headers).content)  # warm-up
            for _ in range(args.scrapes):
                begin = time.perf_counter()
                response = http.get("/metrics", headers=headers)
                timings.append((time.perf_counter() - begin) * 1000)
                assert response.status_code == 200
        gw.close()
    timings.sort()
    p50, p95 = statistics.median(timings), timings[int(len(timings) * 0.95) - 1]
    print(f"/metrics with {args.cases} cases ({'PostgreSQL' if args.pg else 'SQLite'}), {size} bytes: "
          f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {timings[-1]:.1f} ms (target p95 <= {TARGET_MS:.0f} ms)")
    out = REPO / "var" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps({"summary": [{
        "metric": f"/metrics p95, {args.cases} cases ({'PostgreSQL' if args.pg else 'SQLite'}), ms",
        "value": round(p95, 1), "floor": None, "ratio": None, "target": TARGET_MS, "pass": p95 <= TARGET_MS}]}))


if __name__ == "__main__":
    main()

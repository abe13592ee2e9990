"""The console's case search at 100,000 cases: p95 per kind of query, through HTTP, logged in.

Issue 13 item 8 asks for the console's case search at 100,000 cases with p95 <= 200 ms. This
script fills a fresh store (SQLite, or PostgreSQL with ``--postgres``) with ``--cases`` cases
(two municipalities 9:1, four services, five statuses, received over two years, each with a
2 KB document as the intake writes it), serves the gateway on a loopback port, logs in as an
admin of both municipalities and times ``--rounds`` requests of each kind of search, one at a
time (the latency one admin sees): the newest page, a common and a rare status, a service,
service and status, one week, a reference, and page 100 of the newest (by keyset).

    .venv/bin/python -m tests.perf.console_search [--cases 100000] [--rounds 40] [--postgres URL]

Inserting the cases takes a while (they go in directly, not through the intake: the intake's
own speed is `make bench`'s business); the timings are of the search only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from gateway.api.app import create_app
from gateway.bootstrap import Gateway
from gateway.config import ConsoleAccount, ConsoleSettings
from gateway.store.tables import cases
from tests.conftest import OTHER_TENANT, TENANT, make_settings, secret_hash
from tests.support.servers import serve_app

SERVICES = ["99108008001000", "99050012104000", "99107006001000", "99056002001000"]
STATUSES = ["received"] * 60 + ["in_progress"] * 25 + ["decided"] * 10 + ["closed"] * 4 + ["withdrawn"]
START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
DOCUMENT = '{"filler": "' + "x" * 2000 + '"}'
PASSWORD = "perf-passwort-0123"


def fill(engine: sa.Engine, count: int) -> None:
    batch: list[dict[str, Any]] = []
    minutes = 2 * 365 * 24 * 60 / count
    with engine.begin() as conn:
        for n in range(count):
            tenant = OTHER_TENANT if n % 10 == 9 else TENANT
            batch.append({"id": str(uuid.uuid4()), "inbox_id": str(uuid.uuid4()), "tenant_ars": tenant,
                          "reference": f"{'ZWG' if tenant == OTHER_TENANT else 'TGH'}-P-{n:07d}",
                          "service_leika": SERVICES[n % 4], "channel": "portal", "status": STATUSES[n % 100],
                          "routing_queue": "q", "received_at": START + dt.timedelta(minutes=n * minutes),
                          "version": 1, "document": DOCUMENT})
            if len(batch) == 5000:
                conn.execute(sa.insert(cases), batch)
                batch.clear()
        if batch:
            conn.execute(sa.insert(cases), batch)
    with engine.begin() as conn:  # fresh statistics, as autovacuum / a routine ANALYZE would keep them
        conn.exec_driver_sql("ANALYZE")


def login(http: httpx.Client) -> None:
    page = http.get("/console/anmelden").text
    token = re.search(r'name="login_token" value="([^"]+)"', page)
    assert token, "no login form"
    answer = http.post("/console/anmelden", data={"login_token": token.group(1), "benutzername": "perf",
                                                  "passwort": PASSWORD})
    assert answer.status_code == 303, answer.status_code


def searches(http: httpx.Client, count: int) -> dict[str, dict[str, Any]]:
    deep = http.get("/console/faelle").text
    for _ in range(99):  # follow "Ältere Fälle" to page 100
        found = re.search(r'href="(/console/faelle\?vor=\d+)" id="weiter"', deep)
        assert found
        deep_url = found.group(1)
        deep = http.get(deep_url).text
    week_from = (START + dt.timedelta(days=300)).date()
    return {
        "newest": {"params": {}},
        "status common": {"params": {"status": "received"}},
        "status rare": {"params": {"status": "withdrawn"}},
        "service": {"params": {"leistung": SERVICES[2]}},
        "service+status": {"params": {"leistung": SERVICES[1], "status": "closed"}},
        "one week": {"params": {"von": week_from.isoformat(), "bis": (week_from + dt.timedelta(days=6)).isoformat()}},
        "reference": {"params": {"aktenzeichen": f"TGH-P-{count // 2:07d}"}},
        "page 100": {"url": deep_url},
    }


def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        account = ConsoleAccount(username="perf", password_hash=secret_hash(PASSWORD), tenants=[TENANT, OTHER_TENANT])
        overrides: dict[str, Any] = {"console": ConsoleSettings(accounts=[account])}
        if args.postgres:
            overrides |= {"database_url": args.postgres}
        gateway = Gateway.create(make_settings(Path(scratch), **overrides))
        try:
            started = time.monotonic()
            fill(gateway.db.engine, args.cases)
            print(f"{args.cases} cases inserted in {time.monotonic() - started:.0f} s "
                  f"({gateway.db.engine.dialect.name})")
            with serve_app(create_app(gateway)) as base, httpx.Client(base_url=base, timeout=30) as http:
                login(http)
                kinds = searches(http, args.cases)
                print(f"{'search':<16}{'p50 ms':>8}{'p95 ms':>8}{'max ms':>8}  hits")
                worst = 0.0
                for name, spec in kinds.items():
                    times = []
                    for _ in range(args.rounds):
                        begun = time.perf_counter()
                        answer = http.get(spec.get("url", "/console/faelle"), params=spec.get("params"))
                        times.append((time.perf_counter() - begun) * 1000)
                        assert answer.status_code == 200, (name, answer.status_code)
                    hits = answer.text.count('<th scope="row">')
                    p95 = statistics.quantiles(times, n=20)[-1]
                    worst = max(worst, p95)
                    print(f"{name:<16}{statistics.median(times):>8.1f}{p95:>8.1f}{max(times):>8.1f}  {hits}")
                print(f"worst p95 {worst:.1f} ms (target <= 200 ms): {'met' if worst <= 200 else 'MISSED'}")
        finally:
            gateway.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--postgres", help="a PostgreSQL URL (an empty database or schema) instead of SQLite")
    run(parser.parse_args())


if __name__ == "__main__":
    main()

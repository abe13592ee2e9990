"""SIGKILL a worker in the middle of intake: nothing is lost, nothing is duplicated.

Both profiles: the embedded job table (lease expiry hands the killed worker's jobs to the
next one) and Redis Streams (XAUTOCLAIM), with real worker processes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from sqlalchemy import func, select

from gateway.bootstrap import Gateway
from gateway.config import Settings
from gateway.store.tables import cases, inbox
from tests.conftest import AT_REST_ENV, TESTDATA
from tests.integration.conftest import portal_message

MESSAGES = 300


def worker_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RG_")}
    env.update({
        "RG_PROFILE": settings.profile, "RG_DATA_DIR": str(settings.data_dir),
        "RG_MAPPINGS_DIR": str(TESTDATA / "mappings"), "RG_FIXTURES_DIR": str(TESTDATA / "fixtures"),
        "RG_TOKEN_SIGNING_KEY": settings.token_signing_key.get_secret_value(),
        "RG_AT_REST": AT_REST_ENV, "RG_JOB_LEASE_SECONDS": "2", "RG_WORKER_IDLE_SECONDS": "0.2",
        "RG_REDIS_URL": settings.redis_url, "RG_QUEUE_NAME": settings.queue_name,
    })
    if settings.database_url:
        env["RG_DATABASE_URL"] = settings.database_url
    return env


def start_worker(settings: Settings) -> subprocess.Popen[bytes]:
    log = settings.data_dir / f"worker-{time.monotonic_ns()}.log"
    return subprocess.Popen([sys.executable, "-m", "gateway", "worker"], env=worker_env(settings),
                            stdout=subprocess.DEVNULL, stderr=log.open("wb"))


def committed(gw: Gateway) -> int:
    with gw.db.reading() as conn:
        return int(conn.execute(select(func.count()).select_from(cases)).scalar_one())


def wait_for(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def test_sigkill_during_intake_loses_and_duplicates_nothing(gw: Gateway, profile_settings: Settings) -> None:
    for i in range(MESSAGES):
        gw.pipeline.receive(portal_message(f"crash-{i}"))
    victim = start_worker(profile_settings)
    try:
        assert wait_for(lambda: committed(gw) >= 20, 60), "worker made no progress"
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        done_at_kill = committed(gw)
        assert 0 < done_at_kill < MESSAGES, "the kill must land in the middle of intake"
    finally:
        if victim.poll() is None:
            victim.kill()
    survivors = [start_worker(profile_settings) for _ in range(2)]
    try:
        assert wait_for(lambda: committed(gw) == MESSAGES, 120), f"only {committed(gw)} of {MESSAGES} committed"
        time.sleep(2.5)  # a lease period: a late duplicate would show up now
    finally:
        for proc in survivors:
            proc.send_signal(signal.SIGTERM)
        for proc in survivors:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                logs = "".join(p.read_text()[-1500:] for p in profile_settings.data_dir.glob("worker-*.log"))
                raise AssertionError(f"a worker ignored SIGTERM; logs: {logs}") from None
    with gw.db.reading() as conn:
        case_rows = conn.execute(select(cases.c.inbox_id, cases.c.reference)).all()
        states = conn.execute(select(inbox.c.state, func.count()).group_by(inbox.c.state)).all()
    assert len(case_rows) == MESSAGES
    assert len({r.inbox_id for r in case_rows}) == MESSAGES
    numbers = sorted(int(r.reference[-6:]) for r in case_rows)
    assert len(set(numbers)) == MESSAGES, "reference numbers must be unique"
    # a number is drawn just before its case's transaction: the killed worker's last one (and one
    # of a job taken over after a lease ran out) may stay unused, no more
    assert numbers[-1] - MESSAGES <= 4, f"{numbers[-1] - MESSAGES} numbers unused"
    assert dict(states) == {"committed": MESSAGES}

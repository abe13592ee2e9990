"""Scale-out benchmark, FIT-Connect line (issue 13 item 8): intake of FIT-Connect submissions on
PostgreSQL + Redis with 1 and then 2 ``rathaus-gateway worker`` processes; run by
``tests.perf.scaleout_bench``, which adds its rows to its summary.

Per run: a PostgreSQL schema and Redis queue of its own (the test conventions' services), one API
process (``rathaus-gateway serve --no-worker``) that receives the sandbox's callbacks, checks
them, fetches each submission into the blob store and queues its job, and N worker processes
that do the intake (event log and SET check, decrypt, schema checks, map, commit, accept SET).
The submissions (as in ``tests.perf.fitconnect.bench_intake``: 50 KB Fachdaten + 200 KB
attachment) are built and sent to the sandbox Zustelldienst before the window; the window runs
from the first callback (4 sender threads) to the moment the sandbox has recorded the last
accept. Counted in the window: CPU of the API and worker processes, of the PostgreSQL backends
serving their connections plus PostgreSQL's background processes and Redis, and of the sandbox:
it runs in this driver's process (an HTTP server thread, the callback senders, the 10 ms poll of
its state), so the driver's whole CPU counts except the pg_stat_activity sampling thread.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from adapters.fitconnect.outbound import Created
from adapters.fitconnect.sandbox import config as sandbox_config
from tests.perf.fitconnect.bench_intake import Zustelldienst, gateway_settings, zustelldienst
from tests.perf.gateway_process import GatewayProcesses
from tests.perf.loadgen import cpu_seconds, machine_cpu
from tests.perf.pg_activity import SAMPLE_S, Sampler, postgres_background
from tests.perf.servers import scaleout_services

ACCEPT_TIMEOUT_S = 300.0
SENDERS = 4
POLL_S = 0.05


@dataclass
class FitConnectRun:
    workers: int
    intakes: int = 0
    wall_s: float = 0.0
    cpu_s: dict[str, float] = field(default_factory=dict)  # gateway, postgresql+redis, sandbox
    per_process_s: dict[str, float] = field(default_factory=dict)  # CPU s of the API and of each worker
    foreign_cpu_pct: float = 0.0  # of one core: what other processes of the machine used in the window
    lock_waits: int = 0
    lock_wait_s: float = 0.0
    waited_on: dict[str, int] = field(default_factory=dict)

    @property
    def per_s(self) -> float:
        return self.intakes / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def cpu_s_per_intake(self) -> float:
        return sum(self.cpu_s.values()) / max(1, self.intakes)


def _settle(service: Zustelldienst, created: list[Created]) -> None:
    """Until the sandbox has recorded every accept (a rejection is an error)."""
    deadline, pending = time.monotonic() + ACCEPT_TIMEOUT_S, list(created)
    while pending:
        pending = [item for item in pending if not service.decided(item)]
        if pending and time.monotonic() > deadline:
            raise RuntimeError(f"{len(pending)} submissions not accepted after {ACCEPT_TIMEOUT_S:.0f} s")
        if pending:
            time.sleep(SAMPLE_S)


def _announce_all(service: Zustelldienst, created: list[Created]) -> None:
    with ThreadPoolExecutor(SENDERS) as senders:
        list(senders.map(service.announce, created))


def measure(workers: int, intakes: int, data_dir: Path) -> FitConnectRun:
    result = FitConnectRun(workers)
    with zustelldienst() as service, scaleout_services() as services:
        # the callback only records the announcement; a worker fetches it on its next poll of the
        # sources (the FIT-Connect listing itself stays at once an hour)
        settings = {**gateway_settings(service.url), **services, "serve_worker": False,
                    "poll_interval_seconds": POLL_S}
        api = GatewayProcesses(f"scaleout-fitconnect-w{workers}-api", settings, data_dir, with_worker=False)
        pool: list[GatewayProcesses] = []
        try:
            api.wait_ready()  # it has migrated the schema: workers may start
            for number in range(workers):
                pool.append(GatewayProcesses(f"scaleout-fitconnect-w{workers}-{number + 1}", settings, data_dir,
                                             command="worker"))
            for worker in pool:
                worker.wait_ready()
            service.callback_url = f"{api.url}/v1/channels/fitconnect/callbacks/{sandbox_config.DEMO_DESTINATION}"
            warm = service.submit(2 * workers + 1)  # first use in every worker: JWKS, token, schemas, mapping
            _announce_all(service, warm)
            _settle(service, warm)
            created = service.submit(intakes)
            gateway_pids = [api.proc.pid, *(w.proc.pid for w in pool)]
            with Sampler(lambda: gateway_pids, str(services["database_url"])) as sampler:
                time.sleep(1.5)  # the sampler has found the gateway's backends
                background = postgres_background()
                backends_before = {pid: cpu_seconds([pid]) for pid in sampler.backends}
                named = {"api": api.proc.pid, **{f"worker {n + 1}": w.proc.pid for n, w in enumerate(pool)}}
                each = {name: cpu_seconds([pid]) for name, pid in named.items()}
                before = {"gateway": cpu_seconds(gateway_pids), "background": cpu_seconds(background),
                          "driver": cpu_seconds([os.getpid()]), "sampler": sampler.own_cpu_s(),
                          "machine": machine_cpu()[0]}
                sampler.counting = True
                wall = time.perf_counter()
                _announce_all(service, created)
                _settle(service, created)
                wall = time.perf_counter() - wall
                sampler.counting = False
                # backends that connected during the window count from 0: their whole life lies in it
                backends = sum(cpu_seconds([pid]) - backends_before.get(pid, 0.0) for pid in sampler.backends)
                result.cpu_s = {
                    "gateway": cpu_seconds(gateway_pids) - before["gateway"],
                    "postgresql+redis": backends + cpu_seconds(background) - before["background"],
                    "sandbox": (cpu_seconds([os.getpid()]) - before["driver"])
                    - (sampler.own_cpu_s() - before["sampler"]),
                }
                ours = sum(result.cpu_s.values()) + sampler.own_cpu_s() - before["sampler"]
                result.foreign_cpu_pct = max(0.0, 100 * (machine_cpu()[0] - before["machine"] - ours) / wall)
                result.per_process_s = {name: cpu_seconds([pid]) - each[name] for name, pid in named.items()}
                result.lock_waits, result.lock_wait_s = sampler.waits, sampler.wait_samples * SAMPLE_S
                result.waited_on = dict(sampler.waited_on)
            result.intakes, result.wall_s = len(created), wall
        except Exception as exc:
            logs = "\n".join(process.log_tail(15) for process in (api, *pool))
            raise RuntimeError(f"{exc}\n{logs}") from exc
        finally:
            for process in (*pool, api):
                process.stop()
    return result


def describe_run(run: FitConnectRun) -> str:
    return (f"{run.per_s:7.1f}/s ({run.intakes} in {run.wall_s:.1f} s) "
            f"cpu/intake {1000 * run.cpu_s_per_intake:6.2f} ms "
            f"{orjson.dumps({k: round(v, 2) for k, v in {**run.cpu_s, **run.per_process_s}.items()}).decode()} "
            f"lock waits {run.lock_waits} "
            f"({1000 * run.lock_wait_s:.0f} ms) foreign {run.foreign_cpu_pct:.0f}%")

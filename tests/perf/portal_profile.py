"""``portal_bench --profile``: where the time of a portal submission goes (embedded profile).
cProfile of the request path in-process and sequentially, then wall-clock stack samples of one
gateway worker under load (``stack_sampler.py``). Writes var/bench/portal-profile.txt and
var/bench/portal-embedded.prof.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import anyio.to_thread

from tests.perf.loadgen import RequestFactory, run_load
from tests.perf.report import git_revision
from tests.perf.servers import HOST, OUT_DIR, REPO, base_env, embedded_config, fetch_token, running


def _asgi_request(raw: bytes) -> tuple[dict[str, Any], bytes]:
    head, body = raw.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    headers = [(k.strip().lower(), v.strip()) for k, _, v in (line.partition(b":") for line in lines[1:])]
    path = lines[0].split()[1]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path.decode(), "raw_path": path, "query_string": b"", "root_path": "", "headers": headers,
             "client": (HOST, 50000), "server": (HOST, 8000), "state": {}}
    return scope, body


# (label, file, function) of the steps of one portal submission, as the code stands at the time of writing
PHASES = [
    ("auth: Bearer token check (cached after the first request)", "gateway/api/deps.py", "get_principal"),
    ("endpoint total", "adapters/portal/routes.py", "submit_application"),
    ("  read body, JSON check, envelope validation", "adapters/portal/routes.py", "_read_submission"),
    ("  intake (thread-pool part) total", "gateway/intake/pipeline.py", "intake"),
    ("    raw original to the blob store, inbox row", "gateway/intake/pipeline.py", "_new_row"),
    ("    verify: envelope parsed again", "adapters/portal/channel.py", "verify"),
    ("    verify checkpoint: data blob, metadata", "gateway/intake/checkpoint.py", "to_checkpoint"),
    ("    route (catalog) and map (mapping file)", "gateway/intake/pipeline.py", "_route_and_map"),
    ("    transaction: pool checkout, BEGIN IMMEDIATE, COMMIT", "gateway/store/db.py", "transaction"),
    ("    inbox insert (committed)", "gateway/store/inbox_repo.py", "insert_entry"),
    ("    reference number (a statement of its own)", "gateway/store/case_repo.py", "draw_reference"),
    ("    case write total", "gateway/intake/records.py", "write_case"),
    ("      build the case (pydantic)", "gateway/intake/case_builder.py", "build_case"),
    ("      case insert (model_dump_json)", "gateway/store/case_repo.py", "insert_case"),
    ("      event insert", "gateway/events/publish.py", "publish"),
    ("      audit row", "gateway/events/audit.py", "record"),
    ("  all blob writes (counted above too)", "gateway/store/blobs.py", "put"),
    ("  201 response body", "adapters/portal/routes.py", "_answer"),
]


def cprofile_request_path(requests: int, out: Path, data_dir: Path) -> str:
    """In-process, one request after the other, everything on one thread (after a first timing, the
    thread-pool hops of the portal route and of FastAPI's sync dependencies become direct calls, so
    that cProfile sees the whole request path)."""
    import asyncio
    import cProfile
    import io
    import pstats

    import fastapi.dependencies.utils as fastapi_deps

    import adapters.portal.routes as portal_routes
    from gateway.api.app import create_app
    from gateway.bootstrap import Gateway
    from tests.conftest import SECRETS, make_settings

    async def direct(func: Any, *args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    gateway = Gateway.create(make_settings(data_dir, serve_worker=False))
    app = create_app(gateway)
    token = str(app.state.tokens.issue("portal", SECRETS["portal"], None)["access_token"])
    factory = RequestFactory(HOST, 8000, token)

    async def one(seq: int) -> None:
        scope, body = _asgi_request(factory.build(seq))
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(dict(message))

        await app(scope, receive, send)
        if sent[0]["status"] != 201:
            raise RuntimeError(f"status {sent[0]['status']}: {sent[1:]}")

    async def many(first: int, count: int) -> None:
        for seq in range(first, first + count):
            await one(seq)

    def timed(first: int) -> str:
        wall, cpu = time.perf_counter(), time.process_time()
        asyncio.run(many(first, requests))
        wall, cpu = (time.perf_counter() - wall) / requests * 1000, (time.process_time() - cpu) / requests * 1000
        return f"{wall:.2f} ms wall, {cpu:.2f} ms CPU per request"

    asyncio.run(many(1, 200))  # warm-up: imports, caches, first reference number
    hopping = timed(1000)
    # everything on this thread from here on: the endpoint's and FastAPI's (sync dependencies) thread-pool hops
    for module in (portal_routes, fastapi_deps):
        setattr(module, "run_in_threadpool", direct)  # noqa: B010 - a profiling harness, not product code

    async def direct_sync(func: Any, *args: Any, limiter: Any = None, **_: Any) -> Any:
        return func(*args)

    # the portal hands intake to its own FIFO slots via anyio: run that on this thread too
    setattr(anyio.to_thread, "run_sync", direct_sync)  # noqa: B010 - profiling harness
    requests_done = 1000 + requests
    inline = timed(requests_done)
    profiler = cProfile.Profile(time.process_time)  # CPU time: waiting in fsync is not work
    profiler.enable()
    asyncio.run(many(requests_done + requests, requests))
    profiler.disable()
    gateway.close()
    profiler.dump_stats(out)
    # {(file, line, name): (primitive calls, calls, tottime, cumtime, callers)}; not in the typeshed stubs
    stats: dict[tuple[str, int, str], Any] = getattr(pstats.Stats(profiler), "stats")  # noqa: B009
    total = next(v[3] for k, v in stats.items() if k[2] == "one" and k[0] == __file__)

    def cum(file: str, name: str) -> float | None:
        found = [v[3] for k, v in stats.items() if k[0].endswith(file) and k[2] == name]
        return sum(found) if found else None

    lines = ["unprofiled, sequential, in-process (no HTTP, no network):",
             f"  with the thread-pool hops (3 per request): {hopping}",
             f"  all on one thread:                          {inline}",
             f"profiled: {total / requests * 1000:.2f} ms per request (cProfile roughly doubles the cost); "
             f"saved to {out.relative_to(REPO)}", "", "request path by phase (cumulative, profiled):"]
    outside = total - (cum("adapters/portal/routes.py", "submit_application") or 0.0) - (
        cum("gateway/api/deps.py", "get_principal") or 0.0)
    lines.append(f"{outside / requests * 1000:>8.3f} ms {100 * outside / total:>5.1f}%  framework: ASGI, middleware, "
                 "routing, dependencies, JSONResponse (outside the endpoint)")
    for label, file, name in PHASES:
        value = cum(file, name)
        shown = "       —   " if value is None else f"{value / requests * 1000:>8.3f} ms {100 * value / total:>5.1f}%"
        lines.append(f"{shown}  {label} [{Path(file).name}:{name}]")
    lines += ["", "top 15 functions of the request path by cumulative time (gateway/ and adapters/ code):",
              f"{'cum ms/req':>10} {'% of req':>8} {'self ms':>8} {'calls/req':>9}  function"]
    ours = [(k, v) for k, v in stats.items() if f"{REPO}/gateway/" in k[0] or f"{REPO}/adapters/" in k[0]]
    for (file, line, name), (_, calls, tottime, cumtime, _) in sorted(ours, key=lambda kv: -kv[1][3])[:15]:
        lines.append(f"{cumtime / requests * 1000:>10.3f} {100 * cumtime / total:>7.1f}% "
                     f"{tottime / requests * 1000:>8.3f} {calls / requests:>9.1f}  "
                     f"{Path(file).relative_to(REPO)}:{line}({name})")
    lines += ["", "top 15 functions by own (self) time, all code:"]
    for (file, line, name), (_, calls, tottime, cumtime, _) in sorted(stats.items(), key=lambda kv: -kv[1][2])[:15]:
        short = file.split("site-packages/")[-1].replace(f"{REPO}/", "")
        lines.append(f"{tottime / requests * 1000:>10.3f} {100 * tottime / total:>7.1f}% "
                     f"{cumtime / requests * 1000:>8.3f} {calls / requests:>9.1f}  {short}:{line}({name})")
    buffer = io.StringIO()
    pstats.Stats(profiler, stream=buffer).sort_stats("cumulative").print_stats(40)
    return "\n".join(lines) + "\n\nfull listing (cumulative, top 40):\n" + buffer.getvalue()


def sample_under_load(args: argparse.Namespace, tmp: Path) -> str:
    out = tmp / "samples.json"
    with embedded_config(tmp) as config_file:
        env = {**base_env(config_file), "BENCH_SAMPLE_OUT": str(out)}
        with running("tests.perf.stack_sampler:sampled_gateway", 1, env, tmp / "sampled.log") as server:
            load = run_load(RequestFactory(HOST, server.port, fetch_token(server.port)),
                            concurrency=args.concurrency, warmup_s=args.warmup, duration_s=args.duration)
    data = json.loads(out.read_text())
    total = max(1, data["samples"])
    lines = [f"1 worker, concurrency {args.concurrency}: {load.rps:.0f} req/s, p50 {load.p50_ms:.0f} ms, "
             f"p99 {load.p99_ms:.0f} ms (with the sampler running); {data['rounds']} sampling rounds, "
             f"{data['samples']} thread samples inside gateway code", "",
             "where request threads spend wall time (inclusive, % of thread samples):"]
    lines += [f"{100 * count / total:>6.1f}%  {name}" for name, count in data["inclusive"][:40]]
    lines += ["", "innermost frame (what the thread is doing right now):"]
    lines += [f"{100 * count / total:>6.1f}%  {name}" for name, count in data["leaf"][:12]]
    return "\n".join(lines)


def profile(args: argparse.Namespace) -> None:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    report = [f"request-path profile, embedded profile, commit {git_revision()}", "", "== cProfile =="]
    with tempfile.TemporaryDirectory(prefix="rg-profile-") as tmp:
        report.append(cprofile_request_path(args.profile_requests, OUT_DIR / "portal-embedded.prof", Path(tmp)))
        report += ["", "== wall-clock stack samples under load ==", sample_under_load(args, Path(tmp))]
    text = "\n".join(report)
    (OUT_DIR / "portal-profile.txt").write_text(text)
    print(text)
    print(f"\nwritten to {(OUT_DIR / 'portal-profile.txt').relative_to(REPO)}")

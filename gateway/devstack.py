"""`make run`: the sandboxes of the external systems, the gateway (embedded profile) with
its worker, and demo traffic on every channel — so a newcomer watches applications turn
into cases. Stops on Ctrl-C."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from gateway.config import REPO_ROOT, Settings
from gateway.demo import feed_portal
from gateway.plugins import DEMO_GROUP, SANDBOX_GROUP, available, demo_runner, sandbox_factory
from gateway.runtime import Gateway
from gateway.yamlfile import load_yaml

DEFAULT_CONFIG = REPO_ROOT / "fixtures" / "demo" / "gateway.yaml"
STACK = REPO_ROOT / "fixtures" / "demo" / "stack.yaml"


def _start(app: Any, port: int, name: str) -> uvicorn.Server:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, name=name, daemon=True).start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not start on port {port}")
        time.sleep(0.05)
    return server


def run_stack(config: Path | None, port: int) -> None:
    config = (config or DEFAULT_CONFIG).resolve()
    os.environ["RG_CONFIG_FILE"] = str(config)
    raw = load_yaml(config).data
    settings = Settings(data_dir=REPO_ROOT / raw.get("data_dir", "var/demo"))
    stack = load_yaml(STACK).data
    sandboxes: dict[str, str] = {}
    servers = []
    for name in available(SANDBOX_GROUP):
        sandbox = stack["sandboxes"].get(name, {})
        sandbox_port = int(sandbox.get("port", 8110 + len(sandboxes)))
        os.environ.update({k: str(v) for k, v in (sandbox.get("env") or {}).items()})
        try:
            app = sandbox_factory(name)()
        except ImportError as exc:  # an adapter package left out of this installation
            print(f"sandbox {name:<11} not available ({exc})")
            continue
        servers.append(_start(app, sandbox_port, f"sandbox-{name}"))
        sandboxes[name] = f"http://127.0.0.1:{sandbox_port}"
        print(f"sandbox {name:<11} http://127.0.0.1:{sandbox_port}")
    gateway = Gateway.create(settings)
    stop = threading.Event()
    worker = threading.Thread(target=gateway.run_worker, args=(stop,), name="worker", daemon=True)
    worker.start()
    servers.append(_start(gateway.api, port, "gateway"))
    url = f"http://127.0.0.1:{port}"
    httpx.get(url + "/readyz", timeout=10).raise_for_status()
    print(f"gateway            {url}  (API docs: {url}/docs)\n")
    print("portal demo: one application per form")
    sessions = next((service for _, service in gateway.adapters.sessions.items()), None)
    for line in feed_portal(settings, url, "demo-portal", "demo-portal-secret", sessions):
        print("  " + line)
    for name in available(DEMO_GROUP):
        print(f"{name} demo sender:")
        try:
            demo_runner(name)(url, sandboxes)
        except Exception as exc:  # a demo must not take the stack down
            print(f"  {name} demo failed: {type(exc).__name__}: {exc}")
    time.sleep(min(settings.poll_interval_seconds * 2, 10))
    gateway.work_until_idle()
    print("\ncases now in the gateway:")
    from gateway.store import case_repo

    with gateway.db.reading() as conn:
        for _, case in case_repo.list_cases(conn, case_repo.CaseFilter(limit=500))[-30:]:
            print(f"  {case.reference}  {case.source.channel:<10} {case.status.value:<9} {case.service.name}")
    print(f"""
Where to look:
  citizen login       open http://127.0.0.1:8103/portal/ , log in as a demo citizen, submit an application
  API docs            {url}/docs
  token (local proc.) curl -s -d grant_type=client_credentials -d client_id=demo-fachverfahren \\
                        -d client_secret=demo-fachverfahren-secret {url}/oauth/token
  cases               curl -s -H "Authorization: Bearer $TOKEN" {url}/v1/cases
  CLI                 RG_CONFIG_FILE={config} .venv/bin/rathaus-gateway cases list
Ctrl-C stops everything.""")
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        for server in servers:
            server.should_exit = True
        gateway.close()

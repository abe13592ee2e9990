"""`make run`: the sandboxes of the external systems, the gateway (embedded profile) with
its worker process, and demo traffic on every channel — so a newcomer watches applications
turn into cases. Stops on Ctrl-C."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from gateway.api.app import create_app
from gateway.bootstrap import Gateway
from gateway.config import REPO_ROOT, Settings
from gateway.demo import feed_portal
from gateway.demo_replies import decide_cases, where_they_went
from gateway.logs import setup as logs
from gateway.metrics import directory as metrics_directory
from gateway.plugins import DEMO_GROUP, SANDBOX_GROUP, available, demo_runner, sandbox_factory
from gateway.server import uvicorn_config
from gateway.store import case_repo, inbox_repo
from gateway.worker_process import WorkerProcess
from gateway.yamlfile import load_yaml

DEFAULT_CONFIG = REPO_ROOT / "fixtures" / "demo" / "gateway.yaml"
STACK = REPO_ROOT / "fixtures" / "demo" / "stack.yaml"


def _start(app: Any, port: int, name: str) -> uvicorn.Server:
    # log_config None: the JSON logging configured in run_stack stays
    server = uvicorn.Server(uvicorn_config(app, "127.0.0.1", port, log_level="warning", log_config=None))
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
    logs.configure(settings.log_level, "api")
    metrics_directory.use(settings.metrics_dir, clear=True)  # the worker process counts there too
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
    # the worker reads the same settings: the config file from the environment, the data dir too
    worker = WorkerProcess(env={"RG_DATA_DIR": str(settings.data_dir)})
    worker.start()
    servers.append(_start(create_app(gateway), port, "gateway"))
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
    _wait_for_the_worker(gateway)
    print("\ncases now in the gateway:")
    with gateway.db.reading() as conn:
        for _, case in case_repo.list_cases(conn, case_repo.CaseFilter(limit=500))[-30:]:
            print(f"  {case.reference}  {case.source.channel:<10} {case.status.value:<9} {case.service.name}")
    print("\nlocal processing (demo-fachverfahren) decides a few cases and answers the applicants:")
    decided = []
    for case_id, line in decide_cases(url, "demo-fachverfahren", "demo-fachverfahren-secret"):
        decided.append(case_id)
        print("  " + line)
    print("where the decisions went (channel chosen by the catalog and the applicant):")
    for line in where_they_went(url, "demo-fachverfahren", "demo-fachverfahren-secret", decided):
        print("  " + line)
    print(f"""
Where to look:
  citizen login       open http://127.0.0.1:8103/portal/ , log in as a demo citizen, submit an application
  decisions by e-mail {sandboxes.get("email", "(e-mail sandbox not running)")}/  (mailbox page)
  decisions as letters {sandboxes.get("hybridmail", "(E-POST sandbox not running)")}/  (E-POST sandbox: letters, status)
  answers over XTA    {sandboxes.get("xta", "(XTA sandbox not running)")}/  (mailboxes: the sender's one holds them)
  citizen postbox     {sandboxes.get("fitconnect", "(FIT-Connect sandbox not running)")}/postbox/  (one mailbox per \
citizen)
  replies of a case   curl -s -H "Authorization: Bearer $TOKEN" {url}/v1/cases/<id> | jq .replies
  send-by-post tasks  curl -s -H "Authorization: Bearer $TOKEN" {url}/v1/post-tasks
  admin console       {url}/console/  (demo-admin / demo-console-password)
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
        worker.stop()
        for server in servers:
            server.should_exit = True
        gateway.close()


def _wait_for_the_worker(gateway: Gateway, seconds: float = 30.0) -> None:
    """Until the worker process has finished what the demos sent (or ``seconds`` have passed)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with gateway.db.reading() as conn:
            if not inbox_repo.list_by_state(conn, inbox_repo.OPEN_STATES, limit=1):
                return
        time.sleep(0.2)

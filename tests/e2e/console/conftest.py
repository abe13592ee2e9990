"""The console in a real headless Chromium against a served gateway with the XTA adapter, its
worker running in the background, and the XTA sandbox — each on its own loopback port.

The gateway can be restarted on the same port (``Stack.restart``), as an admin restarts the
service after editing a catalog file; console sessions live in the gateway database and survive.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.xta import samples, testing
from adapters.xta.client import XtaClient
from adapters.xta.sandbox.app import create_app as create_xta_sandbox
from adapters.xta.sandbox.store import SandboxState
from gateway.api.app import create_app
from gateway.bootstrap import Gateway
from gateway.config import ConsoleAccount, ConsoleSettings
from tests.conftest import REPO, TENANT, make_settings, secret_hash
from tests.support.servers import free_port, serve_app

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts" / "console"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync", "--lang=de-DE"]
ADMIN, PASSWORD = "leitung", "konsole-test-passwort"
GEWERBE = """\
  - {leika: "99050012104000", name: Gewerbe anmelden, mappings: [xoev.gewerbe-anmelden], min_trust_level: none,
     channels: [xta], queue: gewerbeamt}
"""
WOHNGELD = """\
  - {leika: "99107006001000", name: Wohngeld – Mietzuschuss, mappings: [xoev.wohngeld-mietzuschuss],
     min_trust_level: none, channels: [xta], queue: wohngeld}
"""
CATALOG_HEAD = 'tenant: {ars: "150905350535", name: Einheitsgemeinde Stadt Tangerhütte (Test), reference_prefix: TGH}\n'


def write_catalog(mappings_dir: Path, *, wohngeld: bool) -> Path:
    path = mappings_dir / "catalog" / "tangerhuette.yaml"
    path.write_text(CATALOG_HEAD + "services:\n" + GEWERBE + (WOHNGELD if wohngeld else ""), encoding="utf-8")
    return path


@dataclass
class Stack:
    """Sandbox, gateway, the gateway's worker thread; ``restart`` brings the gateway up again."""

    data_dir: Path
    mappings_dir: Path
    xta_url: str
    xta: SandboxState
    portal: XtaClient
    port: int = field(default_factory=free_port)
    gateway: Gateway | None = None
    _running: ExitStack = field(default_factory=ExitStack)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def gw(self) -> Gateway:
        assert self.gateway is not None
        return self.gateway

    def start(self) -> None:
        account = ConsoleAccount(username=ADMIN, password_hash=secret_hash(PASSWORD), tenants=[TENANT],
                                 may_view_originals=True)
        settings = make_settings(self.data_dir, mappings_dir=self.mappings_dir, poll_interval_seconds=0.2,
                                 worker_idle_seconds=0.1, intake_max_attempts=3, delivery_max_attempts=2,
                                 console=ConsoleSettings(accounts=[account]),
                                 adapters={"xta": testing.options(self.xta_url, quarantine_then_close=False)})
        gateway = Gateway.create(settings)
        self.gateway = gateway
        self._running.callback(gateway.close)
        self._running.enter_context(serve_app(create_app(gateway), port=self.port))
        stop = threading.Event()
        worker = threading.Thread(target=gateway.worker.run, args=(stop,), daemon=True)
        worker.start()
        self._running.callback(worker.join, 10)
        self._running.callback(stop.set)

    def stop(self) -> None:
        self._running.close()
        self._running = ExitStack()

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    mappings = tmp_path / "mappings"
    (mappings / "catalog").mkdir(parents=True)
    for sub in ("xoev", "codelists"):
        shutil.copytree(REPO / "mappings" / sub, mappings / sub)
    write_catalog(mappings, wohngeld=False)
    sandbox = create_xta_sandbox()
    with serve_app(sandbox, health_path="/health") as xta_url, httpx.Client(timeout=30) as http:
        running = Stack(tmp_path / "data", mappings, xta_url, sandbox.state.xta,
                        XtaClient(xta_url, samples.STATE_PORTAL, http))
        running.start()
        try:
            yield running
        finally:
            running.stop()


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's browser with "
                    "`apt-get install -y --no-install-recommends chromium` (make test does this)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        # a persistent context is the one Playwright call that takes a fresh --user-data-dir
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS,
            locale="de-DE", viewport={"width": 1280, "height": 900})
        try:
            opened = context.pages[0] if context.pages else context.new_page()
            opened.set_default_timeout(15_000)
            yield opened
        finally:
            context.close()


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


SERIOUS = ("serious", "critical")


def check_accessibility(page: Any, name: str) -> None:
    """axe-core (bundled with axe-playwright-python, no network) on the current page: no serious or
    critical violation; the full result is kept next to the screenshots."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"resultTypes": ["violations"], "runOnly": {
        "type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}})
    violations = results.response["violations"]
    (ARTIFACTS / f"{name}.axe.json").write_text(json.dumps(violations, indent=2, ensure_ascii=False),
                                                encoding="utf-8")
    bad = [v for v in violations if v.get("impact") in SERIOUS]
    assert not bad, f"{name}: " + results.generate_report()


def log_in(page: Any, stack: Stack) -> None:
    page.goto(f"{stack.url}/console/")
    page.fill("#benutzername", ADMIN)
    page.fill("#passwort", PASSWORD)
    page.click("#anmelden")
    page.wait_for_selector("#adapter")

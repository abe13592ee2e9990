"""A gateway with the XTA adapter against the sandbox on a real loopback port.

The gateway reads a mappings directory of its own (the XÖV mappings and code lists of the
repository plus a test catalog), so these tests do not depend on a tenant's production catalog.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.xta import samples, testing
from adapters.xta.client import XtaClient
from adapters.xta.sandbox.app import create_app
from adapters.xta.sandbox.store import SandboxState
from gateway.bootstrap import Gateway
from tests.conftest import make_settings
from tests.support.servers import serve_app

REPO = Path(__file__).resolve().parents[3]
CATALOG = """\
tenant: {ars: "150905350535", name: Einheitsgemeinde Stadt Tangerhütte (Test), reference_prefix: TGH}
services:
  - {leika: "99107006001000", name: Wohngeld, mappings: [xoev.wohngeld-mietzuschuss], min_trust_level: none,
     channels: [xta], queue: wohngeld}
  - {leika: "99050012104000", name: Gewerbe anmelden, mappings: [xoev.gewerbe-anmelden], min_trust_level: none,
     channels: [xta], queue: gewerbeamt}
"""


@pytest.fixture
def mappings_dir(tmp_path: Path) -> Path:
    target = tmp_path / "mappings"
    (target / "catalog").mkdir(parents=True)
    for sub in ("xoev", "codelists"):
        shutil.copytree(REPO / "mappings" / sub, target / sub)
    (target / "catalog" / "tangerhuette-test.yaml").write_text(CATALOG, encoding="utf-8")
    return target


@dataclass
class Stack:
    url: str
    state: SandboxState
    portal: XtaClient
    make_gateway: Callable[..., Gateway]

    def open_ids(self) -> list[str]:
        return self.state.open_messages(samples.TOWN.value)

    def closes(self, message_id: str) -> int:
        return self.state.calls[f"closed:{message_id}"]


@pytest.fixture
def stack(tmp_path: Path, mappings_dir: Path) -> Iterator[Stack]:
    app = create_app()
    gateways: list[Gateway] = []
    with serve_app(app, health_path="/health") as url, httpx.Client(timeout=30) as http:
        def make_gateway(**xta: Any) -> Gateway:
            settings = make_settings(tmp_path / "data", mappings_dir=mappings_dir,
                                     adapters={"xta": testing.options(url, **xta)})
            gateway = Gateway.create(settings)
            gateways.append(gateway)
            return gateway

        yield Stack(url, app.state.xta, XtaClient(url, samples.STATE_PORTAL, http), make_gateway)
        for gateway in gateways:
            gateway.close()

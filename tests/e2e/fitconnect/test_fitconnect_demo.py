"""The demo EfA sender of ``make run``, with its v2 submission (metadata 3.0.0, plans in fragments)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from adapters.fitconnect import demo


def test_the_demo_s_submissions_are_decided_and_the_v2_one_is_accepted(stack: Any,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    done = threading.Event()
    worker = threading.Thread(target=lambda: (demo.run(stack.gateway_url, {"fitconnect": stack.sandbox_url},
                                                       wait_seconds=30), done.set()))
    worker.start()
    deadline = time.monotonic() + 40
    while not done.is_set() and time.monotonic() < deadline:
        stack.gateway.worker.run_until_idle()
        time.sleep(0.1)
    worker.join(timeout=5)
    out = capsys.readouterr().out
    assert "metadata 3.0.0, plans in fragments): accepted" in out
    v2 = [s for s in stack.sandbox.submissions.values() if s.api_version == "v2"]
    assert len(v2) == 1 and len(v2[0].announced) == 4  # nachweis.pdf and three fragments of the plans
    assert "no decision" not in out

"""The demo sender of ``make run``: its messages all turn into cases and are closed."""

from __future__ import annotations

import pytest

from adapters.xta import demo, samples
from tests.e2e.xta.conftest import Stack
from tests.e2e.xta.test_xta_e2e import _cases, _work


def test_demo_messages_become_cases(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    demo.run("http://gateway.unused", {"xta": stack.url})
    sent = list(stack.state.messages)
    expected = len(samples.WOHNGELD.fixtures()) + len(samples.GEWERBE.fixtures())
    assert len(sent) == expected and expected >= 6
    assert "sent fim.S05000227.05000227001005" in capsys.readouterr().out
    gateway = stack.make_gateway()
    _work(gateway)
    assert len(_cases(gateway)) == expected
    assert stack.open_ids() == []
    for message_id in sent:
        case = gateway.queries.case_by_source("xta", message_id)
        assert case is not None and len(case.attachments) == 1

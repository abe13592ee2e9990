"""The demo local processing of `make run`: it decides received cases over the API and sends
each applicant a decision with a PDF; the summary says where each went."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.fitconnect import demo as fitconnect_demo
from gateway import demo_replies
from gateway.demo_replies import decide_cases, decision_pdf, where_they_went
from tests.conftest import SECRETS
from tests.e2e.conftest import hund_envelope, running_gateway
from tests.integration.replies.conftest import install_fakes


def test_the_demo_decides_cases_and_reports_where_the_decisions_went(tmp_path: Path) -> None:
    with running_gateway(tmp_path / "gateway") as api:
        fakes = install_fakes(api.gw)
        for reply_channel in ({"kind": "email", "address": "erika@example.org"}, None):
            api.create_case(hund_envelope(**({"reply_channel": reply_channel} if reply_channel else {})))
        lines = list(decide_cases(api.base, "fach", SECRETS["fach"]))
        assert [line.split()[-2:] for _, line in lines] == [["decision", "sent"]] * 2
        api.gw.worker.run_until_idle()
        summary = where_they_went(api.base, "fach", SECRETS["fach"], [case_id for case_id, _ in lines], 5)
        assert [line.split("->")[1].strip() for line in summary] == ["email sent", "hybridmail sent"]
        assert [api.case(case_id)["status"] for case_id, _ in lines] == ["decided", "decided"]
        assert len(fakes.email.delivered) == len(fakes.hybridmail.delivered) == 1
        assert list(decide_cases(api.base, "fach", SECRETS["fach"])) == []  # nothing received is left
    assert decision_pdf("TGH-2026-000001", "Hund anmelden").startswith(b"%PDF-")


def test_the_demo_sends_one_decision_more_by_letter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every demo applicant has an electronic channel; one decision still goes as a letter, so a
    newcomer sees the E-POST sandbox at work too."""
    monkeypatch.setattr(demo_replies, "PER_CHANNEL", {"portal": 1})
    with running_gateway(tmp_path / "gateway") as api:
        fakes = install_fakes(api.gw)
        for _ in range(3):
            api.create_case(hund_envelope(reply_channel={"kind": "email", "address": "erika@example.org"}))
        lines = list(decide_cases(api.base, "fach", SECRETS["fach"]))
        assert [line.split("portal", 1)[1].strip() for _, line in lines] == [
            "decision sent", "decision sent by letter"]
        api.gw.worker.run_until_idle()
        summary = where_they_went(api.base, "fach", SECRETS["fach"], [case_id for case_id, _ in lines], 5)
        assert [line.split("->")[1].strip() for line in summary] == ["email sent", "hybridmail sent"]
        assert len(fakes.email.delivered) == len(fakes.hybridmail.delivered) == 1


def test_the_demo_decides_every_fitconnect_demo_submission() -> None:
    """Their cases arrive in any order; the v2 sender's decision must reach the postbox the demo names."""
    assert demo_replies.PER_CHANNEL["fitconnect"] >= len(fitconnect_demo.DEMO_APPLICATIONS) + 1  # + the v2 sender

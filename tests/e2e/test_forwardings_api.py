"""Forwarding a case: an unknown channel is the client's mistake (422), never a server error."""

from __future__ import annotations

from tests.e2e.conftest import PROBLEM_JSON, Api, problem_type


def test_unknown_forwarding_channel_is_422(api: Api) -> None:
    case = api.create_case()
    response = api.http.post(f"/v1/cases/{case['case_id']}/forwardings", headers=api.auth("fach"),
                             json={"channel": "nosuchchannel", "target": "x"})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    problem = response.json()
    assert problem["type"] == problem_type("invalid-request")
    assert "nosuchchannel" in problem["detail"]
    assert api.get(f"/v1/cases/{case['case_id']}/forwardings").json() == []

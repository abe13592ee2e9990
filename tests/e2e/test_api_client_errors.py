"""Client mistakes are 4xx problems, never server errors: an unknown forwarding channel, cursors and
times out of range."""

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


def test_out_of_range_cursors_and_times_are_422_not_500(api: Api) -> None:
    """Found by probing past the fuzzer: positions beyond BIGINT and times beyond the UTC range."""
    import base64

    beyond = base64.urlsafe_b64encode(b"p" + b"9" * 30).decode().rstrip("=")
    for path, params in (("/v1/cases", {"cursor": beyond}), ("/v1/events", {"after": beyond}),
                         ("/v1/cases", {"received_since": "0001-01-01T00:00:00+14:00"}),
                         ("/v1/cases", {"received_since": "9999-12-31T23:59:59-14:00"})):
        response = api.get(path, params=params)
        assert response.status_code == 422, (path, params, response.text)
        assert response.headers["content-type"] == PROBLEM_JSON

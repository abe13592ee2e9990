"""What the portal channel refuses in an application before anything is kept: a submitted_at in
the future, control and bidi characters; and how it normalises text (NFC)."""

from __future__ import annotations

import datetime as dt

from tests.e2e.conftest import PROBLEM_JSON, Api, hund_envelope, new_key, problem_type


def test_submitted_at_in_the_future_beyond_the_clock_skew_is_refused(api: Api) -> None:
    before = api.inbox_count()
    for submitted_at in ("9999-12-31T23:59:59Z",
                         (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=6)).isoformat()):
        response = api.submit(hund_envelope(submitted_at=submitted_at), key=new_key())
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM_JSON
        problem = response.json()
        assert problem["type"] == problem_type("invalid-payload")
        assert problem["field"] == "/submitted_at"
        assert submitted_at not in response.text
    assert api.inbox_count() == before
    # a clock a little ahead (within the default five minutes) is fine
    ahead = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2)).isoformat()
    assert api.submit(hund_envelope(submitted_at=ahead), key=new_key()).status_code == 201

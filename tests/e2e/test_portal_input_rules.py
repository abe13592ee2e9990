"""What the portal channel refuses in an application before anything is kept: a submitted_at in
the future or implausibly far in the past, control and bidi characters; and how it normalises text (NFC)."""

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


def test_implausibly_old_submitted_at_is_refused(api: Api) -> None:
    before = api.inbox_count()
    response = api.submit(hund_envelope(submitted_at="0001-01-01T00:00:00Z"), key=new_key())
    assert response.status_code == 422, response.text
    problem = response.json()
    assert (problem["type"], problem["field"]) == (problem_type("invalid-payload"), "/submitted_at")
    assert problem["detail"] == "submitted_at lies implausibly far in the past"
    assert api.inbox_count() == before


def test_control_and_bidi_characters_in_form_values_are_refused_naming_the_field(api: Api) -> None:
    before = api.inbox_count()
    for value, kind in (("Erika\r\nX-Injected: 1", "control"), ("Erika\u001b[31m", "control"),
                        ("Erika\u0000", "control"), ("Erika\u202etxt.exe", "bidirectional")):
        envelope = hund_envelope()
        envelope["data"]["halter"]["vorname"] = value
        response = api.submit(envelope, key=new_key())
        assert response.status_code == 422, response.text
        problem = response.json()
        assert problem["field"] == "/data/halter/vorname"
        assert kind in problem["detail"]
        assert "Erika" not in response.text and "Injected" not in response.text
    assert api.inbox_count() == before


def test_form_values_reach_the_case_in_nfc(api: Api) -> None:
    envelope = hund_envelope()
    envelope["data"]["halter"]["nachname"] = "Mu\u0308ller"
    created = api.create_case(envelope)
    case = api.case(created["case_id"])
    assert case["applicant"]["party"]["family_name"] == "Müller"

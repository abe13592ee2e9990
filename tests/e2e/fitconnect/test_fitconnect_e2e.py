"""EfA sender -> sandbox Zustelldienst -> gateway (HTTP callback recorded, or polling; the worker
fetches) -> case -> event."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
import uuid
from typing import Any

import httpx
import orjson
import pytest

from adapters.fitconnect import testing
from adapters.fitconnect.callback import CALLBACK_TYPE, REFUSED, callback_signature
from adapters.fitconnect.events import EVENT_BASE, unverified_claims
from adapters.fitconnect.outbound import OutgoingAttachment
from adapters.fitconnect.problems import PROBLEM_BASE
from adapters.fitconnect.sandbox.callbacks import deliver, send_callback
from adapters.fitconnect.sandbox.config import DEMO_CALLBACK_SECRET, DEMO_DESTINATION
from adapters.fitconnect.sandbox.state import SentCallback
from gateway.api.app import create_app
from tests.e2e.fitconnect.conftest import wait_for
from tests.support.servers import serve_app

CALLBACK_PATH = f"/v1/channels/fitconnect/callbacks/{DEMO_DESTINATION}"


def announced(stack: Any, submission_id: str) -> SentCallback:
    """The sandbox's callback for the submission, answered 200: recorded for the worker."""
    callback: SentCallback = wait_for(lambda: next(
        (c for c in stack.sandbox.callbacks if submission_id in c.body.decode() and c.status == 200), None))
    return callback


def test_submission_becomes_a_case_and_is_accepted_once(stack: Any) -> None:
    created = stack.efa.send(testing.application("gewerbe-anmelden-gmbh"))
    announced(stack, created.submission_id)
    # the callback only recorded the announcement; the worker fetches and receives it
    assert stack.gateway.queries.inbox_entry("fitconnect", created.submission_id) is None
    stack.gateway.worker.poll_sources(force=True)
    assert stack.gateway.queries.inbox_entry("fitconnect", created.submission_id).state == "received"
    stack.gateway.worker.run_until_idle()
    case = stack.gateway.queries.case_by_source("fitconnect", created.submission_id)
    assert case is not None
    assert case.service.leika == "99050012104000" and case.service.mapping_id == "fim.gewerbe-anmelden"
    assert case.tenant.ars == "150905350535"
    assert case.source.references["caseId"] == created.case_id
    assert case.applicant.party.family_name == "Mustermann"
    assert [a.filename for a in case.attachments] == ["nachweis.pdf"]
    assert case.reply_channel is not None and case.reply_channel.kind == "email"
    assert stack.gateway.queries.inbox_entry("fitconnect", created.submission_id).state == "acknowledged"
    assert stack.events(created.case_id) == ["create-submission", "submit-submission", "accept-submission"]
    stack.gateway.worker.run_until_idle()  # polling again finds nothing: accepted submissions leave the list
    assert stack.events(created.case_id).count("accept-submission") == 1


def test_the_callback_answers_without_downloading_and_the_worker_fetches_the_announced_submission(
        stack: Any) -> None:
    """The listing of the destination waits an hour here: only the announcement brings the
    submission in, fetched by the worker's source, never by the API's callback handler."""
    gateway = stack.make_gateway(poll_interval_seconds=3600)
    gateway.worker.poll_sources(force=True)  # the listing's first round, before anything was sent
    source = gateway.adapters.sources.get("fitconnect").source
    fetched: list[str] = []
    real_fetch = source.fetch

    def fetch(destination_id: str, submission_id: str, case_id: str = "") -> Any:
        fetched.append(submission_id)
        return real_fetch(destination_id, submission_id, case_id)

    source.fetch = fetch
    stack.gateway.adapters.sources.get("fitconnect").source.fetch = fetch
    try:
        created = stack.efa.send(testing.application("gewerbe-anmelden-gmbh"))
        announced(stack, created.submission_id)
        assert fetched == [] and gateway.queries.inbox_entry("fitconnect", created.submission_id) is None
        gateway.worker.run_until_idle()
        assert fetched == [created.submission_id]
        assert gateway.queries.case_by_source("fitconnect", created.submission_id) is not None
        assert stack.events(created.case_id)[-1] == "accept-submission"
    finally:
        gateway.close()


def test_duplicate_delivery_gives_one_case(stack: Any) -> None:
    created = stack.efa.send(testing.application())
    announced(stack, created.submission_id)
    stack.gateway.worker.poll_sources(force=True)
    # The same submission arrives again: a second, freshly signed callback and a poll.
    destination = stack.sandbox.destination(DEMO_DESTINATION)
    assert destination.callback_url and destination.callback_secret
    again = send_callback(stack.sandbox, destination.callback_url, destination.callback_secret, CALLBACK_TYPE,
                          [stack.sandbox.submissions[created.submission_id]],
                          timestamp=int(time.time()) + 1)  # not the same second: not a replay
    assert again.status == 200
    fresh = stack.make_gateway()  # a restarted process has forgotten what it fetched
    fresh.worker.run_until_idle()
    stack.gateway.worker.run_until_idle()
    fresh.close()
    case = stack.gateway.queries.case_by_source("fitconnect", created.submission_id)
    assert case is not None
    assert stack.events(created.case_id).count("accept-submission") == 1


def test_replayed_and_stale_callbacks_are_refused_and_nothing_is_lost(stack: Any) -> None:
    created = stack.efa.send(testing.application())
    first = wait_for(lambda: next((c for c in stack.sandbox.callbacks if created.submission_id in c.body.decode()),
                                  None))
    assert first.status == 200
    assert deliver(first) == 401  # same timestamp and signature again: a replay
    body = (f'{{"type":"{CALLBACK_TYPE}","submissions":[{{"destinationId":"{DEMO_DESTINATION}",'
            f'"submissionId":"{created.submission_id}","caseId":"{created.case_id}"}}]}}').encode()
    stale = str(int(time.time()) - 301)
    response = httpx.post(stack.gateway_url + CALLBACK_PATH, content=body, headers={
        "callback-timestamp": stale, "callback-authentication": callback_signature(DEMO_CALLBACK_SECRET, stale, body)})
    assert response.status_code == 401 and response.json()["detail"] == REFUSED
    forged = str(int(time.time()))
    response = httpx.post(stack.gateway_url + CALLBACK_PATH, content=body, headers={
        "callback-timestamp": forged, "callback-authentication": callback_signature("x" * 40, forged, body)})
    assert response.status_code == 401 and response.json()["detail"] == REFUSED
    stack.gateway.worker.run_until_idle()
    assert stack.gateway.queries.case_by_source("fitconnect", created.submission_id) is not None
    assert stack.events(created.case_id).count("accept-submission") == 1


def test_a_replay_to_another_gateway_process_is_refused(stack: Any) -> None:
    created = stack.efa.send(testing.application())
    first = wait_for(lambda: next((c for c in stack.sandbox.callbacks if created.submission_id in c.body.decode()),
                                  None))
    assert first.status == 200
    other = stack.make_gateway()  # a second `serve` process on the same database, never saw this callback
    try:
        with serve_app(create_app(other)) as other_url:
            replay = SentCallback(url=other_url + CALLBACK_PATH, timestamp=first.timestamp,
                                  signature=first.signature, body=first.body)
            assert deliver(replay) == 401
            fresh = SentCallback(url=replay.url, timestamp=str(int(first.timestamp) + 1), body=first.body,
                                 signature=callback_signature(DEMO_CALLBACK_SECRET, str(int(first.timestamp) + 1),
                                                              first.body))
            assert deliver(fresh) == 200  # a new, authentic callback still passes there
    finally:
        other.close()


def _reject_problem(stack: Any, case_id: str) -> dict[str, Any]:
    last = unverified_claims(stack.sandbox.events(case_id)[-1])
    problems: list[dict[str, Any]] = last["events"][EVENT_BASE + "reject-submission"]["problems"]
    return problems[0]


def test_tampered_submission_is_quarantined_and_rejected(stack: Any) -> None:
    created = stack.efa.send(testing.application())
    stored = stack.sandbox.submissions[created.submission_id]
    head, key, iv, ciphertext, tag = (stored.encrypted_metadata or "").split(".")
    stored.encrypted_metadata = ".".join([head, key, iv, ("A" if ciphertext[0] != "A" else "B") + ciphertext[1:], tag])
    stack.gateway.worker.run_until_idle()
    entry = stack.gateway.queries.inbox_entry("fitconnect", created.submission_id)
    assert entry.state == "quarantined" and entry.case_id is None
    assert stack.events(created.case_id)[-1] == "reject-submission"
    assert _reject_problem(stack, created.case_id)["type"] == PROBLEM_BASE + "encryption-issue"


def test_service_missing_from_the_catalog_is_rejected(stack: Any) -> None:
    created = stack.efa.send(testing.application("gewerbe-abmelden-kiosk"))
    stack.gateway.worker.run_until_idle()
    assert stack.gateway.queries.inbox_entry("fitconnect", created.submission_id).state == "quarantined"
    assert _reject_problem(stack, created.case_id)["type"] == PROBLEM_BASE + "unsupported-service"


def test_crash_between_commit_and_accept_sends_exactly_one_accept(stack: Any) -> None:
    first = stack.efa.send(testing.application())
    second = stack.efa.send(testing.application("gewerbe-anmelden-gmbh"))
    channel = stack.gateway.adapters.channels.get("fitconnect")
    real_post = channel.api.post_event

    def post_then_crash(case_id: str, submission_id: str, token: str) -> None:
        if case_id == second.case_id:
            real_post(case_id, submission_id, token)  # the accept reaches the Zustelldienst ...
        raise RuntimeError("process killed")  # ... but the gateway dies before recording it

    channel.api.post_event = post_then_crash
    # poll, commit both cases, try both acks once -- then the process "dies" (no outbox retry round: with
    # the tests' tiny backoff a retry could already be due, and would find the second accept in the log)
    stack.gateway.worker.poll_sources(force=True)
    stack.gateway.worker.run_jobs()  # what the callback and the poll received
    stack.gateway.dispatcher.run_due()  # the round's outbox pass: each acknowledgement tried once
    for created in (first, second):
        assert stack.gateway.queries.inbox_entry("fitconnect", created.submission_id).state == "committed"
    assert stack.events(first.case_id).count("accept-submission") == 0
    assert stack.events(second.case_id).count("accept-submission") == 1
    restarted = stack.make_gateway()  # same data_dir: the outbox still holds both acks
    time.sleep(0.05)  # past the (tiny) retry backoff
    restarted.worker.run_until_idle()
    restarted.close()
    for created in (first, second):
        assert stack.events(created.case_id).count("accept-submission") == 1
    assert restarted.queries.inbox_entry("fitconnect", first.submission_id).state == "acknowledged"


def test_submission_of_a_pypi_client_library_becomes_a_case(stack: Any) -> None:
    """Sent as ``fitconnect``/``fitconnect-client`` send it: thumbprint kids, zip DEF, metadata 1.0.0."""
    created = testing.send_like_pypi_libraries(stack.sandbox_url, testing.application("gewerbe-anmelden-gmbh"))
    callback = wait_for(lambda: next((c for c in stack.sandbox.callbacks if created.submission_id in c.body.decode()),
                                     None))
    assert callback.status == 200 and created.submission_id in orjson.loads(callback.body)["submissionIds"]
    stack.gateway.worker.run_until_idle()
    case = stack.gateway.queries.case_by_source("fitconnect", created.submission_id)
    assert case is not None and case.source.references["metadataVersion"] == "1.0.0"
    assert stack.events(created.case_id) == ["create-submission", "submit-submission", "accept-submission"]


# -- Submission API v1 and v2, metadata 1.x to 3.0.0, fragments ------------------------------------


SENDERS = [("v1", "1.1.0"), ("v1", "1.3.0"), ("v2", "2.0.0"), ("v2", "2.1.0"), ("v2", "3.0.0")]


@pytest.mark.parametrize(("api", "version"), SENDERS)
def test_v1_and_v2_senders_become_cases_with_an_accept_event(any_stack: Any, api: str, version: str) -> None:
    plans = OutgoingAttachment(attachment_id=str(uuid.uuid4()), filename="plaene.pdf", media_type="application/pdf",
                               content=os.urandom(300_000), fragment_bytes=100_000)
    app = testing.application("gewerbe-anmelden-gmbh", api_version=api, metadata_version=version)  # type: ignore[arg-type]
    app = dataclasses.replace(app, attachments=[*app.attachments, plans])
    created = any_stack.efa.send(app)
    announced(any_stack, created.submission_id)
    any_stack.gateway.worker.run_until_idle()
    case = any_stack.gateway.queries.case_by_source("fitconnect", created.submission_id)
    assert case is not None and case.service.leika == "99050012104000"
    assert sorted(a.filename for a in case.attachments) == ["nachweis.pdf", "plaene.pdf"]
    plan = next(a for a in case.attachments if a.filename == "plaene.pdf")
    assert plan.sha512 == hashlib.sha512(plans.content).hexdigest()
    assert case.source.references["metadataVersion"] == version
    assert any_stack.events(created.case_id)[-1] == "accept-submission"


def test_the_php_client_s_v2_requests_become_a_case(any_stack: Any) -> None:
    created = testing.send_like_php_client_v2(any_stack.sandbox_url, testing.application())
    announced(any_stack, created.submission_id)
    any_stack.gateway.worker.run_until_idle()
    assert any_stack.gateway.queries.case_by_source("fitconnect", created.submission_id) is not None
    assert any_stack.events(created.case_id)[-1] == "accept-submission"


def test_a_tampered_fragment_is_rejected_and_nothing_is_committed(stack: Any) -> None:
    content = os.urandom(300_000)
    app = dataclasses.replace(testing.application(attachment=None, metadata_version="1.3.0"), attachments=[
        OutgoingAttachment(attachment_id=str(uuid.uuid4()), filename="plaene.pdf", media_type="application/pdf",
                           content=content, fragment_bytes=100_000)])
    created = stack.efa.create(app)
    stack.efa.upload_and_submit(app, created)
    stored = stack.sandbox.submissions[created.submission_id].attachments
    fragment = list(stored)[1]
    head, ciphertext, tag = stored[fragment].rsplit(".", 2)
    stored[fragment] = f"{head}.{'A' if ciphertext[5] != 'A' else 'B'}{ciphertext[:5]}{ciphertext[6:]}.{tag}"
    stack.gateway.worker.poll_sources(force=True)
    stack.gateway.worker.run_until_idle()
    assert stack.gateway.queries.case_by_source("fitconnect", created.submission_id) is None
    assert stack.gateway.queries.inbox_entry("fitconnect", created.submission_id).state == "quarantined"
    problem = _reject_problem(stack, created.case_id)
    assert (problem["type"], problem["instance"]) == (PROBLEM_BASE + "encryption-issue", f"attachment:{fragment}")


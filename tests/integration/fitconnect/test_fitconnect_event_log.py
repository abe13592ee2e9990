"""The event log as the delivery service writes it: notify-submission, and every one of its SETs
checked before the submission is believed."""

from __future__ import annotations

import time

import pytest

from adapters.fitconnect import jose, testing
from adapters.fitconnect.events import build_set
from adapters.fitconnect.keys import OwnKey, jose_key
from adapters.fitconnect.outbound import Created
from adapters.fitconnect.pki import public_jwk
from adapters.fitconnect.problems import PROBLEM_BASE
from adapters.fitconnect.sandbox.config import load_jwk
from adapters.fitconnect.testing import SandboxEnv as Env
from gateway.errors import PermanentError


def verify(env: Env, created: Created) -> object:
    wiring = env.wiring()
    return wiring.channel.verify(env.fetch_all(wiring)[created.submission_id])


def test_a_notify_submission_with_the_same_content_changes_nothing(env: Env) -> None:
    created = env.efa.send(testing.application())
    time.sleep(1.05)  # a later iat than the submit event
    env.sandbox.notify(env.sandbox.submissions[created.submission_id])
    assert env.events(created)[-1] == "notify-submission"
    assert verify(env, created) is not None


def test_the_latest_announcement_s_tags_are_the_ones_that_count(env: Env) -> None:
    """After a notify-submission, content matching its tags passes the tag check (and then fails
    the hash, the metadata describing other content) -- the submit event's tags no longer count."""
    created = env.efa.send(testing.application())
    sub = env.sandbox.submissions[created.submission_id]
    aid = sub.announced[0]
    kid, key = env.efa.encryption_key(sub.destination_id)
    sub.attachments[aid] = jose.encrypt(b"%PDF-1.7 other content", key, kid, "application/pdf", env.efa.registry)
    with pytest.raises(PermanentError) as before:
        verify(env, created)
    assert before.value.extensions["fitconnect_problem"]["type"] == PROBLEM_BASE + "incorrect-authentication-tag"
    time.sleep(1.05)
    env.sandbox.notify(sub)
    with pytest.raises(PermanentError) as after:
        verify(env, created)
    problem = after.value.extensions["fitconnect_problem"]
    assert (problem["type"], problem["instance"]) == (PROBLEM_BASE + "hash-mismatch", f"attachment:{aid}")


def test_a_delivery_service_event_with_details_unfit_for_its_type_makes_the_log_invalid(env: Env) -> None:
    created = env.efa.send(testing.application())
    sub = env.sandbox.submissions[created.submission_id]
    jwk = load_jwk("zustelldienst-sig.jwk.json")
    signer = OwnKey(kid=str(jwk["kid"]), key=jose_key(jwk), public_jwk=public_jwk(jwk))
    time.sleep(1.05)
    forged = build_set("notify-submission", env.sandbox.issuer, sub.submission_id, sub.case_id,
                       {"authenticationTags": {"attachments": {}}}, signer)  # no metadata tag
    env.sandbox.event_logs[sub.case_id].append(forged)
    with pytest.raises(PermanentError) as caught:
        verify(env, created)
    assert caught.value.extensions["fitconnect_problem"]["type"] == PROBLEM_BASE + "invalid-event-log"

"""Every way a submission can be wrong ends in a reject-submission event with the matching
problem, and the submission leaves the Zustelldienst's list (nothing stays in limbo)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from adapters.fitconnect import testing
from adapters.fitconnect.events import EVENT_BASE, build_set, unverified_claims
from adapters.fitconnect.keys import load_own_key
from adapters.fitconnect.outbound import Created, metadata_for
from adapters.fitconnect.problems import PROBLEM_BASE
from adapters.fitconnect.testing import SandboxEnv as Env
from gateway.errors import PermanentError, Problem

OTHER_KEY = testing.KEY_DIR / "landkreis-enc-2026.jwk.json"


def _rejected_with(env: Env, created: Created, slug: str, instance: str | None = None,
                   **wiring_options: Any) -> None:
    wiring = env.wiring(**wiring_options)
    message = env.fetch_all(wiring)[created.submission_id]
    with pytest.raises(PermanentError) as caught:
        wiring.channel.verify(message)
    problem = caught.value.extensions["fitconnect_problem"]
    assert problem["type"] == PROBLEM_BASE + slug
    if instance is not None:
        assert problem["instance"] == instance
    wiring.channel.reject(message, Problem.of(caught.value))
    wiring.channel.reject(message, Problem.of(caught.value))  # a retry after a crash posts nothing new
    names = env.events(created)
    assert names.count("reject-submission") == 1 and "accept-submission" not in names
    last = unverified_claims(env.sandbox.events(created.case_id)[-1])
    posted = last["events"][EVENT_BASE + "reject-submission"]["problems"][0]
    assert posted["type"] == PROBLEM_BASE + slug
    assert created.submission_id not in env.listed(wiring)


def _tamper(token: str, segment: int) -> str:
    parts = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(parts[segment] + "=" * (-len(parts[segment]) % 4)))
    raw[len(raw) // 2] ^= 0x01
    parts[segment] = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    return ".".join(parts)


def _replace_submit_event(env: Env, created: Created, token: str) -> None:
    log = env.sandbox.event_logs[created.case_id]
    index = next(i for i, t in enumerate(log) if "submit-submission" in json.dumps(unverified_claims(t)))
    log[index] = token


def test_tampered_ciphertext_is_an_encryption_issue(env: Env) -> None:
    created = env.efa.send(testing.application())
    stored = env.sandbox.submissions[created.submission_id]
    stored.encrypted_data = _tamper(stored.encrypted_data or "", 3)  # ciphertext; tag segment unchanged
    _rejected_with(env, created, "encryption-issue", "data")


def test_encrypted_for_the_wrong_key_is_an_encryption_issue(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = load_own_key(OTHER_KEY, "encryption")
    from adapters.fitconnect.keys import jose_key
    from adapters.fitconnect.outbound import Target

    monkeypatch.setattr(env.efa, "target", lambda *_: Target("tangerhuette-enc-2026", jose_key(wrong.public_jwk)))
    created = env.efa.send(testing.application())
    _rejected_with(env, created, "encryption-issue", "metadata")


def test_swapped_attachments_do_not_match_the_authentication_tags(env: Env) -> None:
    app = testing.application(attachment=b"first attachment")
    second = testing.application(attachment=b"second attachment").attachments[0]
    app = app.__class__(**{**app.__dict__, "attachments": [*app.attachments, second]})
    created = env.efa.send(app)
    stored = env.sandbox.submissions[created.submission_id].attachments
    a, b = list(stored)
    stored[a], stored[b] = stored[b], stored[a]
    _rejected_with(env, created, "incorrect-authentication-tag")


def test_swapped_attachments_with_a_consistent_event_log_fail_the_hash(env: Env) -> None:
    """Even a Zustelldienst that swaps attachments and re-signs its event is caught."""
    app = testing.application(attachment=b"first attachment")
    second = testing.application(attachment=b"second attachment").attachments[0]
    app = app.__class__(**{**app.__dict__, "attachments": [*app.attachments, second]})
    created = env.efa.send(app)
    sub = env.sandbox.submissions[created.submission_id]
    a, b = list(sub.attachments)
    sub.attachments[a], sub.attachments[b] = sub.attachments[b], sub.attachments[a]
    _replace_submit_event(env, created, env.sandbox.record("submit-submission", sub,
                                                           {"authenticationTags": env.sandbox.tags(sub)}))
    _rejected_with(env, created, "hash-mismatch")


def test_data_hash_mismatch(env: Env) -> None:
    app = testing.application()
    metadata = metadata_for(app)
    metadata["contentStructure"]["data"]["hash"]["content"] = "0" * 128
    created = env.efa.create(app)
    env.efa.upload_and_submit(app, created, metadata=metadata)
    _rejected_with(env, created, "hash-mismatch", "data")


def test_authentication_tag_mismatch_in_the_event_log(env: Env) -> None:
    created = env.efa.send(testing.application())
    sub = env.sandbox.submissions[created.submission_id]
    tags = env.sandbox.tags(sub)
    tags["metadata"] = tags["data"]
    _replace_submit_event(env, created, build_set("submit-submission", env.sandbox.issuer,
                                                  sub.submission_id, sub.case_id, {"authenticationTags": tags},
                                                  env.sandbox.signing))
    _rejected_with(env, created, "incorrect-authentication-tag", "metadata")


def test_forged_submit_event(env: Env) -> None:
    created = env.efa.send(testing.application())
    sub = env.sandbox.submissions[created.submission_id]
    forger = load_own_key(testing.KEY_DIR / "landkreis-sig-2026.jwk.json", "signature")
    forged = forger.__class__(kid=env.sandbox.signing.kid, key=forger.key, public_jwk={})
    _replace_submit_event(env, created, build_set("submit-submission", env.sandbox.issuer,
                                                  sub.submission_id, sub.case_id,
                                                  {"authenticationTags": env.sandbox.tags(sub)}, forged))
    _rejected_with(env, created, "invalid-event-log")


def test_unsigned_submit_event(env: Env) -> None:
    created = env.efa.send(testing.application())
    sub = env.sandbox.submissions[created.submission_id]
    genuine = build_set("submit-submission", env.sandbox.issuer, sub.submission_id, sub.case_id,
                        {"authenticationTags": env.sandbox.tags(sub)}, env.sandbox.signing)
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"secevent+jwt"}').rstrip(b"=").decode()
    _replace_submit_event(env, created, f"{header}.{genuine.split('.')[1]}.")
    _rejected_with(env, created, "invalid-event-log")


def test_unknown_submission_schema(env: Env) -> None:
    app = testing.application(schema_uri="https://schema.fitko.de/fim/s99999999_1.0.schema.json")
    created = env.efa.send(app)
    _rejected_with(env, created, "unsupported-schema", "data")


def test_data_violating_its_schema(env: Env) -> None:
    created = env.efa.send(testing.application(data=b'{"G17003529": {"F17010011": 42}}'))
    _rejected_with(env, created, "schema-violation", "data")


def test_service_not_accepted_by_the_destination(env: Env) -> None:
    created = env.efa.send(testing.application("gewerbe-abmelden-kiosk"))
    options = testing.gateway_options(env.url)["destinations"][0]
    _rejected_with(env, created, "unsupported-service", "metadata",
                   destinations=[{**options, "services": ["99050012104000"]}])


def test_missing_attachment(env: Env) -> None:
    created = env.efa.send(testing.application())
    env.sandbox.submissions[created.submission_id].attachments.clear()
    _rejected_with(env, created, "missing-attachment")


def test_metadata_violating_the_metadata_schema(env: Env) -> None:
    app = testing.application()
    metadata = metadata_for(app)
    metadata["replyChannel"] = {"eMail": {"address": "a@example.org"}, "deMail": {"address": "b@example.org"}}
    created = env.efa.create(app)
    env.efa.upload_and_submit(app, created, metadata=metadata)
    _rejected_with(env, created, "schema-violation", "metadata")


def test_submission_document_without_metadata(env: Env) -> None:
    created = env.efa.send(testing.application())
    env.sandbox.submissions[created.submission_id].encrypted_metadata = None
    _rejected_with(env, created, "missing-data", "metadata")

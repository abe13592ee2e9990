"""Forwarding cases through FIT-Connect, key validation on the sending side, key rotation."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import serialization

from adapters.fitconnect import jose, pki, testing
from adapters.fitconnect import sender as sender_module
from adapters.fitconnect.events import build_set
from adapters.fitconnect.keycheck import KeyRejected
from adapters.fitconnect.keys import DestinationKeys, private_key_from_jwk
from adapters.fitconnect.outbound import DestinationUnusable
from adapters.fitconnect.sandbox.config import DEMO_DESTINATION, LANDKREIS_CLIENT, LANDKREIS_DESTINATION
from adapters.fitconnect.sender import STATE_NAMESPACE, SubmissionGone
from adapters.fitconnect.testing import SandboxEnv
from gateway.case.model import Case
from gateway.errors import PermanentError
from gateway.ports import Forwarding, StateStore

LANDKREIS_KEYS = DestinationKeys.load([testing.KEY_DIR / "landkreis-enc-2026.jwk.json"],
                                      testing.KEY_DIR / "landkreis-sig-2026.jwk.json")


class Blobs:
    def __init__(self) -> None:
        self.items: dict[str, bytes] = {}

    def put(self, content: bytes, sha512: str | None = None) -> str:
        key = "sha512/" + hashlib.sha512(content).hexdigest()
        self.items[key] = content
        return key

    def get(self, key: str) -> bytes:
        return self.items[key]

    def open(self, key: str) -> Iterator[bytes]:
        yield self.items[key]

    def exists(self, key: str) -> bool:
        return key in self.items


def make_case(blobs: Blobs) -> Case:
    pdf = b"%PDF-1.7 forwarded TEST"
    now = dt.datetime.now(dt.UTC)
    return Case.model_validate({
        "id": str(uuid.uuid4()), "reference": "TGH-2026-000042",
        "tenant": {"ars": "150905350535", "name": "Stadt Tangerhütte"},
        "service": {"leika": "99050012104000", "name": "Gewerbe anmelden", "mapping_id": "fim.gewerbe-anmelden",
                    "mapping_version": 1},
        "source": {"channel": "portal", "id": "req-1"}, "received_at": now, "routing_queue": "gewerbeamt",
        "applicant": {"party": {"kind": "natural_person", "given_names": "Erika", "family_name": "Beispiel"}},
        "form": [], "status_history": [{"status": "received", "at": now, "by": "gateway"}],
        "attachments": [{"id": "a1", "filename": "nachweis.pdf", "media_type": "application/pdf", "size": len(pdf),
                         "sha512": hashlib.sha512(pdf).hexdigest(), "storage_key": blobs.put(pdf)}],
        "original": {"storage_key": blobs.put(b"{}"), "sha512": hashlib.sha512(b"{}").hexdigest(),
                     "media_type": "application/json", "size": 2},
    })


def submissions_for(env: SandboxEnv, destination: str) -> list[Any]:
    return [s for s in env.sandbox.submissions.values() if s.destination_id == destination]


def test_forwarding_is_idempotent_and_followed_to_accepted(env: SandboxEnv) -> None:
    blobs, wiring = Blobs(), env.wiring()
    case = make_case(blobs)
    before = len(submissions_for(env, LANDKREIS_DESTINATION))
    sent = wiring.sender.send(case, LANDKREIS_DESTINATION, blobs)
    again = wiring.sender.send(case, LANDKREIS_DESTINATION, blobs)
    assert sent == again and sent.status == "submitted"
    assert len(submissions_for(env, LANDKREIS_DESTINATION)) == before + 1
    case_id, _, submission_id = sent.remote_id.partition("/")
    stored = env.sandbox.submissions[submission_id]
    # The Landkreis decrypts what we sent: the case itself, hash-consistent with the metadata.
    data = jose.decrypt(stored.encrypted_data or "", LANDKREIS_KEYS.for_kid, jose.FitConnectJWERegistry(10**7, 10**7))
    assert json.loads(data)["reference"] == "TGH-2026-000042"
    metadata = orjson.loads(jose.decrypt(stored.encrypted_metadata or "", LANDKREIS_KEYS.for_kid,
                                         jose.FitConnectJWERegistry(10**6, 10**6)))
    assert metadata["contentStructure"]["data"]["hash"]["content"] == hashlib.sha512(data).hexdigest()
    assert metadata["additionalReferenceInfo"]["senderReference"] == "TGH-2026-000042"
    # The Landkreis accepts; following the forwarding reads the verified event log.
    accept = build_set("accept-submission", LANDKREIS_DESTINATION, submission_id, case_id,
                       {"authenticationTags": env.sandbox.tags(stored)}, LANDKREIS_KEYS.signing)
    testing.sender_api(env.url, LANDKREIS_CLIENT).post_event(case_id, submission_id, accept)
    assert wiring.sender.follow(sent).status == "accepted"


def test_crash_after_create_continues_the_same_submission(env: SandboxEnv,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    blobs, wiring = Blobs(), env.wiring()
    case = make_case(blobs)
    real = wiring.sender.outbound.upload_and_submit

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("killed during upload")

    monkeypatch.setattr(wiring.sender.outbound, "upload_and_submit", crash)
    with pytest.raises(RuntimeError):
        wiring.sender.send(case, LANDKREIS_DESTINATION, blobs)
    monkeypatch.setattr(wiring.sender.outbound, "upload_and_submit", real)
    before = len(submissions_for(env, LANDKREIS_DESTINATION))
    restarted = env.wiring()  # another process (or host) on the same gateway database
    sent = restarted.sender.send(case, LANDKREIS_DESTINATION, blobs)
    assert len(submissions_for(env, LANDKREIS_DESTINATION)) == before
    assert env.sandbox.submissions[sent.remote_id.partition("/")[2]].status == "submitted"


def statuses(env: SandboxEnv, case: Case) -> list[str]:
    """Status of every submission the gateway created for ``case`` (its attachment ids are derived from it)."""
    ids = {str(uuid.uuid5(sender_module._ATTACHMENT_NAMESPACE, f"{case.id}/{a.id}")) for a in case.attachments}
    return sorted(s.status for s in submissions_for(env, LANDKREIS_DESTINATION) if set(s.announced) == ids)


def test_two_processes_creating_at_once_submit_only_one(env: SandboxEnv, shared_state: StateStore) -> None:
    one = SandboxEnv(env.url, env.sandbox, env.tmp, shared_state)
    first, second = one.wiring(), one.wiring()
    blobs = Blobs()
    case = make_case(blobs)
    real_create = first.sender.outbound.create
    seen: list[Forwarding] = []

    def create_while_the_other_process_runs(app: Any) -> Any:
        created = real_create(app)  # created, not yet recorded ...
        seen.append(second.sender.send(case, LANDKREIS_DESTINATION, blobs))  # ... the other one does it all
        return created

    first.sender.outbound.create = create_while_the_other_process_runs  # type: ignore[method-assign]
    sent = first.sender.send(case, LANDKREIS_DESTINATION, blobs)
    assert [sent] == seen
    assert statuses(env, case) == ["incomplete", "submitted"]  # ours stays incomplete: never delivered
    assert env.sandbox.submissions[sent.remote_id.partition("/")[2]].status == "submitted"
    assert first.sender.send(case, LANDKREIS_DESTINATION, blobs) == sent


def test_crash_after_submit_before_the_state_write_does_not_submit_again(env: SandboxEnv,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    blobs, wiring = Blobs(), env.wiring()
    case = make_case(blobs)

    def database_gone(*args: Any) -> None:
        raise RuntimeError("database connection lost")

    monkeypatch.setattr(wiring.sender.once, "_done", database_gone)
    with pytest.raises(RuntimeError):
        wiring.sender.send(case, LANDKREIS_DESTINATION, blobs)
    assert statuses(env, case) == ["submitted"]
    sent = env.wiring().sender.send(case, LANDKREIS_DESTINATION, blobs)  # the retry reads the event log
    assert sent.status == "submitted" and statuses(env, case) == ["submitted"]
    assert env.state.get(STATE_NAMESPACE, f"{case.id}|{LANDKREIS_DESTINATION}") == {
        "submissionId": sent.remote_id.partition("/")[2], "caseId": sent.remote_id.partition("/")[0],
        "destinationId": LANDKREIS_DESTINATION, "submitted": True}


def test_two_processes_continuing_at_once_submit_once(env: SandboxEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    blobs, first, second = Blobs(), env.wiring(), env.wiring()
    case = make_case(blobs)
    monkeypatch.setattr(first.sender.outbound, "upload_and_submit", lambda *a, **k: (_ for _ in ()).throw(
        RuntimeError("killed during upload")))
    with pytest.raises(RuntimeError):
        first.sender.send(case, LANDKREIS_DESTINATION, blobs)
    real_events = second.sender.api.get_events
    calls: list[str] = []

    def stale_then_real(case_id: str, submission_id: str) -> list[str]:
        calls.append(case_id)
        if len(calls) == 1:  # second reads the log, then the other process submits ...
            env.wiring().sender.send(case, LANDKREIS_DESTINATION, blobs)
            return []
        return real_events(case_id, submission_id)

    monkeypatch.setattr(second.sender.api, "get_events", stale_then_real)
    sent = second.sender.send(case, LANDKREIS_DESTINATION, blobs)  # ... its upload gets 409, it re-reads the log
    assert sent.status == "submitted" and statuses(env, case) == ["submitted"]
    assert len(calls) == 2  # read, refused upload (409), read again


def test_a_recorded_submission_deleted_before_completion_is_not_reported_as_submitted(
        env: SandboxEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    blobs, first = Blobs(), env.wiring()
    case = make_case(blobs)
    monkeypatch.setattr(first.sender.outbound, "upload_and_submit", lambda *a, **k: (_ for _ in ()).throw(
        RuntimeError("killed during upload")))
    with pytest.raises(RuntimeError):
        first.sender.send(case, LANDKREIS_DESTINATION, blobs)
    recorded = env.state.get(STATE_NAMESPACE, f"{case.id}|{LANDKREIS_DESTINATION}")
    assert recorded is not None
    env.sandbox.record("delete-submission", env.sandbox.submissions[str(recorded["submissionId"])], {})
    with pytest.raises(SubmissionGone):  # the gateway was down beyond the retention period
        env.wiring().sender.send(case, LANDKREIS_DESTINATION, blobs)


def test_a_target_that_is_no_destination_id_is_refused_before_any_request(env: SandboxEnv) -> None:
    blobs, wiring = Blobs(), env.wiring()
    before = len(env.sandbox.submissions)
    with pytest.raises(DestinationUnusable):
        wiring.sender.send(make_case(blobs), "../../v1/destinations", blobs)
    assert len(env.sandbox.submissions) == before


def test_destination_key_without_valid_chain_is_refused_before_anything_is_sent(env: SandboxEnv) -> None:
    destination = env.sandbox.destinations[LANDKREIS_DESTINATION]
    original = [dict(k) for k in destination.keys]
    jwk = json.loads((testing.KEY_DIR / "landkreis-enc-2026.jwk.json").read_text())
    key = private_key_from_jwk(jwk)
    now = dt.datetime.now(dt.UTC)
    self_signed = pki.issue_certificate(key.public_key(), "Landkreis (self-signed)", key, None, "encryption",
                                        now - dt.timedelta(days=1), now + dt.timedelta(days=30))
    der = base64.b64encode(self_signed.public_bytes(serialization.Encoding.DER)).decode()
    destination.keys = [{**k, "x5c": [der]} if k["kid"] == "landkreis-enc-2026" else k for k in original]
    try:
        blobs, wiring = Blobs(), env.wiring()
        before = len(submissions_for(env, LANDKREIS_DESTINATION))
        with pytest.raises(KeyRejected):
            wiring.sender.send(make_case(blobs), LANDKREIS_DESTINATION, blobs)
        with pytest.raises(KeyRejected):
            env.efa.send(testing.application(destination_id=LANDKREIS_DESTINATION))
        assert len(submissions_for(env, LANDKREIS_DESTINATION)) == before
    finally:
        destination.keys = original


def test_key_rotation_new_kid_is_decrypted_with_the_second_key(env: SandboxEnv) -> None:
    destination = env.sandbox.destinations[DEMO_DESTINATION]
    destination.encryption_kid = "tangerhuette-enc-2027"
    try:
        created = env.efa.send(testing.application())
    finally:
        destination.encryption_kid = "tangerhuette-enc-2026"
    wiring = env.wiring()
    message = env.fetch_all(wiring)[created.submission_id]
    assert jose.jwe_header(env.sandbox.submissions[created.submission_id].encrypted_metadata or "")["kid"] \
        == "tangerhuette-enc-2027"
    verified = wiring.channel.verify(message)
    assert verified.service_leika == "99050012104000"
    wiring.channel.acknowledge(message, make_case(Blobs()))
    assert env.events(created).count("accept-submission") == 1


def test_forwarding_by_area_goes_where_the_routing_api_points(env: SandboxEnv) -> None:
    blobs, wiring = Blobs(), env.wiring()
    case = make_case(blobs)
    sent = wiring.sender.send(case, "ars:15090", blobs)  # no destination id configured for the Landkreis
    case_id, submission_id, destination = sent.remote_id.split("/")
    assert destination == LANDKREIS_DESTINATION
    assert env.sandbox.submissions[submission_id].destination_id == LANDKREIS_DESTINATION
    assert wiring.sender.send(case, "ars:15090", blobs) == sent  # idempotent, no second route look-up needed
    stored = env.sandbox.submissions[submission_id]
    accept = build_set("accept-submission", LANDKREIS_DESTINATION, submission_id, case_id,
                       {"authenticationTags": env.sandbox.tags(stored)}, LANDKREIS_KEYS.signing)
    testing.sender_api(env.url, LANDKREIS_CLIENT).post_event(case_id, submission_id, accept)
    assert wiring.sender.follow(sent).status == "accepted"


def test_forwarding_by_an_area_without_a_verifiable_route_is_refused(env: SandboxEnv) -> None:
    blobs, wiring = Blobs(), env.wiring()
    with pytest.raises(PermanentError):
        wiring.sender.send(make_case(blobs), "ars:150905350535", blobs)  # two destinations answer: ambiguous
    with pytest.raises(PermanentError):
        wiring.sender.send(make_case(blobs), "ars:16", blobs)  # nobody serves Thüringen here


def test_forwarding_in_api_v2_with_metadata_3_0_0(env: SandboxEnv) -> None:
    blobs = Blobs()
    wiring = env.wiring(forwarding={"api_version": "v1", "targets": {
        LANDKREIS_DESTINATION: {"api_version": "v2", "metadata_version": "3.0.0"}}})
    sent = wiring.sender.send(make_case(blobs), LANDKREIS_DESTINATION, blobs)
    stored = env.sandbox.submissions[sent.remote_id.split("/")[1]]
    assert stored.api_version == "v2" and stored.service_type["identifier"].endswith("99050012104000")
    metadata = orjson.loads(jose.decrypt(stored.encrypted_metadata or "", LANDKREIS_KEYS.for_kid,
                                         jose.FitConnectJWERegistry(10**6, 10**6)))
    assert metadata["$schema"].endswith("/metadata/3.0.0/metadata.schema.json")
    assert wiring.sender.follow(sent).status == "submitted"

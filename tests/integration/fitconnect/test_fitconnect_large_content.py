"""Fragmented attachments, Fachdaten as a purpose: data attachment, the destination's limits and
stream decryption with bounded memory -- every content generated here, nothing committed.

Each failure is rejected with the problem (type and instance) the verification prescribes, and
no verified content leaves the channel: the plaintext of a refused attachment is not in the
blob store (only the still encrypted parts of the raw original are).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import tracemalloc
import uuid
from typing import Any

import orjson
import pytest

from adapters.fitconnect import jose, testing
from adapters.fitconnect.content import store_attachment
from adapters.fitconnect.events import build_set, unverified_claims
from adapters.fitconnect.keys import DestinationKeys, OwnKey, jose_key
from adapters.fitconnect.metadata import read
from adapters.fitconnect.outbound import Application, Created, OutgoingAttachment, metadata_for
from adapters.fitconnect.parts import Manifest, Parts
from adapters.fitconnect.pki import public_jwk
from adapters.fitconnect.problems import PROBLEM_BASE
from adapters.fitconnect.sandbox.config import load_jwk
from adapters.fitconnect.testing import SandboxEnv as Env
from gateway.errors import PermanentError
from gateway.ports import CommittedCase, InboundMessage

MIB = 1024 * 1024


def fragmented(content: bytes, fragment: int, api: str = "v2", version: str = "2.1.0") -> Application:
    app = testing.application(attachment=None, api_version=api,  # type: ignore[arg-type]
                              metadata_version=version)
    plan = OutgoingAttachment(attachment_id=str(uuid.uuid4()), filename="bauplaene.pdf",
                              media_type="application/pdf", content=content, fragment_bytes=fragment)
    return dataclasses.replace(app, attachments=[plan])


def fragment_ids(env: Env, created: Created) -> list[str]:
    return list(env.sandbox.submissions[created.submission_id].announced)


def verify(env: Env, created: Created, **options: Any) -> tuple[Any, InboundMessage]:
    wiring = env.wiring(**options)
    message = env.fetch_all(wiring)[created.submission_id]
    return wiring.channel.verify(message), message


def rejected(env: Env, created: Created, slug: str, instance: str, plain: bytes | None = None,
             **options: Any) -> None:
    wiring = env.wiring(**options)
    message = env.fetch_all(wiring)[created.submission_id]
    with pytest.raises(PermanentError) as caught:
        wiring.channel.verify(message)
    problem = caught.value.extensions["fitconnect_problem"]
    assert (problem["type"], problem["instance"]) == (PROBLEM_BASE + slug, instance)
    if plain is not None:  # nothing verified reached the blob store
        assert not env.blobs.exists("sha512/" + hashlib.sha512(plain).hexdigest())
    wiring.channel.reject(message, caught.value)
    assert env.events(created)[-1] == "reject-submission"


def resign_submit_event(env: Env, created: Created) -> None:
    """The Zustelldienst (as an attacker) re-signs its submit event over what it now stores."""
    sub = env.sandbox.submissions[created.submission_id]
    log = env.sandbox.event_logs[created.case_id]
    index = next(i for i, t in enumerate(log) if "submit-submission" in orjson.dumps(unverified_claims(t)).decode())
    zustelldienst = load_jwk("zustelldienst-sig.jwk.json")
    key = OwnKey(kid=str(zustelldienst["kid"]), key=jose_key(zustelldienst), public_jwk=public_jwk(zustelldienst))
    log[index] = build_set("submit-submission", env.sandbox.issuer, sub.submission_id, sub.case_id,
                           {"authenticationTags": env.sandbox.tags(sub)}, key)


# -- fragments -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("api", "version"), [("v1", "1.3.0"), ("v2", "2.0.0"), ("v2", "3.0.0")])
def test_a_fragmented_attachment_is_joined_verified_and_accepted(env: Env, api: str, version: str) -> None:
    content = os.urandom(3 * MIB + 12345)  # generated here, never committed
    created = env.efa.send(fragmented(content, MIB, api, version))
    assert len(fragment_ids(env, created)) == 4  # each fragment is an attachment of its own
    wiring = env.wiring(destination={"api_version": api})
    message = env.fetch_all(wiring)[created.submission_id]
    verified = wiring.channel.verify(message)
    (attachment,) = verified.attachments
    assert attachment.stored is not None and attachment.content is None  # streamed into the blob store
    assert attachment.stored.sha512 == hashlib.sha512(content).hexdigest() == attachment.declared_sha512
    assert env.blobs.get(attachment.stored.key) == content
    assert verified.references["metadataVersion"] == version and verified.references["apiVersion"] == api
    # the accept's tags name every fragment by its id; the Zustelldienst checks them against its own
    wiring.channel.acknowledge(message, _committed())
    assert env.events(created)[-1] == "accept-submission"
    accept = unverified_claims(env.sandbox.events(created.case_id)[-1])
    tags = next(iter(accept["events"].values()))["authenticationTags"]
    assert set(tags["attachments"]) == set(fragment_ids(env, created))


def test_a_tampered_fragment_is_an_encryption_issue(env: Env) -> None:
    content = os.urandom(2 * MIB)
    created = env.efa.send(fragmented(content, MIB))
    second = fragment_ids(env, created)[1]
    stored = env.sandbox.submissions[created.submission_id].attachments
    parts = stored[second].split(".")
    middle = len(parts[3]) // 2
    parts[3] = parts[3][:middle] + ("A" if parts[3][middle] != "A" else "B") + parts[3][middle + 1:]
    stored[second] = ".".join(parts)  # ciphertext changed, tag segment (and the event log) unchanged
    rejected(env, created, "encryption-issue", f"attachment:{second}", content, destination={"api_version": "v2"})


def test_a_missing_fragment_is_a_missing_attachment(env: Env) -> None:
    content = os.urandom(2 * MIB)
    created = env.efa.send(fragmented(content, MIB))
    last = fragment_ids(env, created)[-1]
    del env.sandbox.submissions[created.submission_id].attachments[last]  # the Zustelldienst lost it
    rejected(env, created, "missing-attachment", f"attachment:{last}", content, destination={"api_version": "v2"})


def test_a_fragment_from_another_submission(env: Env) -> None:
    content, other_content = os.urandom(2 * MIB), os.urandom(2 * MIB)
    created = env.efa.send(fragmented(content, MIB))
    other = env.efa.send(fragmented(other_content, MIB))
    first = fragment_ids(env, created)[0]
    stored = env.sandbox.submissions[created.submission_id].attachments
    stored[first] = env.sandbox.submissions[other.submission_id].attachments[fragment_ids(env, other)[0]]
    # the event log still names the real fragment: its tag differs
    rejected(env, created, "incorrect-authentication-tag", f"attachment:{first}", content,
             destination={"api_version": "v2"})


def test_a_fragment_from_another_submission_with_a_consistent_event_log(env: Env) -> None:
    content, other_content = os.urandom(2 * MIB), os.urandom(2 * MIB)
    created = env.efa.send(fragmented(content, MIB))
    other = env.efa.send(fragmented(other_content, MIB))
    stored = env.sandbox.submissions[created.submission_id].attachments
    stored[fragment_ids(env, created)[0]] = env.sandbox.submissions[other.submission_id].attachments[
        fragment_ids(env, other)[0]]
    resign_submit_event(env, created)  # decrypts fine (same key), but the joined content is not the declared one
    parent = env.sandbox.submissions[created.submission_id]
    rejected(env, created, "hash-mismatch", f"attachment:{_parent_id(env, parent)}", content,
             destination={"api_version": "v2"})


def test_fragments_in_the_wrong_order(env: Env) -> None:
    content = os.urandom(3 * MIB)
    app = fragmented(content, MIB)
    metadata = metadata_for(app)
    entry = metadata["contentStructure"]["attachments"][0]
    entry["fragments"] = [entry["fragments"][1], entry["fragments"][0], entry["fragments"][2]]
    created = env.efa.create(app)
    env.efa.upload_and_submit(app, created, metadata)
    rejected(env, created, "hash-mismatch", f"attachment:{entry['attachmentId']}", content,
             destination={"api_version": "v2"})


def test_fragments_beyond_the_destination_s_limit(env: Env) -> None:
    created = env.efa.send(fragmented(os.urandom(3 * MIB), MIB))
    parent = _parent_id(env, env.sandbox.submissions[created.submission_id])
    rejected(env, created, "technical-error", f"attachment:{parent}",
             destination={"api_version": "v2", "limits": {"max_fragments": 2}})


def test_an_attachment_beyond_the_destination_s_size_limit(env: Env) -> None:
    content = os.urandom(2 * MIB)
    created = env.efa.send(fragmented(content, MIB))
    parent = _parent_id(env, env.sandbox.submissions[created.submission_id])
    rejected(env, created, "technical-error", f"attachment:{parent}", content,
             destination={"api_version": "v2", "limits": {"max_attachment_bytes": MIB + 1}})


def test_a_submission_beyond_the_destination_s_total_limit(env: Env) -> None:
    created = env.efa.send(fragmented(os.urandom(2 * MIB), MIB))
    rejected(env, created, "technical-error", "submission",
             destination={"api_version": "v2", "limits": {"max_total_bytes": MIB}})


# -- Fachdaten as a purpose: data attachment -------------------------------------------------------


def test_data_from_a_purpose_data_attachment_is_validated_like_inline_data(env: Env) -> None:
    app = dataclasses.replace(testing.application(api_version="v2", metadata_version="2.1.0"), data_as_attachment=True)
    created = env.efa.send(app)
    stored = env.sandbox.submissions[created.submission_id]
    assert stored.encrypted_data == ""  # the empty placeholder
    verified, _ = verify(env, created, destination={"api_version": "v2"})
    assert verified.data == app.data and verified.source_format == f"fim:{app.schema_uri}"
    assert [a.filename for a in verified.attachments] == ["nachweis.pdf"]  # the data is not an attachment


def test_purpose_data_needs_the_hash_of_nothing_as_data_hash(env: Env) -> None:
    app = dataclasses.replace(testing.application(api_version="v2", metadata_version="2.1.0"), data_as_attachment=True)
    metadata = metadata_for(app)
    metadata["contentStructure"]["data"]["hash"]["content"] = hashlib.sha512(app.data).hexdigest()
    created = env.efa.create(app)
    env.efa.upload_and_submit(app, created, metadata)
    rejected(env, created, "hash-mismatch", "data", destination={"api_version": "v2"})


def test_purpose_data_violating_its_schema(env: Env) -> None:
    app = dataclasses.replace(testing.application(api_version="v2", metadata_version="2.1.0", data=b'{"x": 1}'),
                              data_as_attachment=True)
    created = env.efa.send(app)
    rejected(env, created, "schema-violation", "data", destination={"api_version": "v2"})


# -- bounded memory ----------------------------------------------------------------------------------


def test_a_large_attachment_is_decrypted_and_hashed_with_bounded_memory(env: Env) -> None:
    content = os.urandom(24 * MIB)  # generated here; one JWE of 32 MB
    app = dataclasses.replace(testing.application(attachment=None), attachments=[OutgoingAttachment(
        attachment_id=str(uuid.uuid4()), filename="scan.tif", media_type="image/tiff", content=content)])
    created = env.efa.send(app)
    wiring = env.wiring()
    message = env.fetch_all(wiring)[created.submission_id]
    manifest = Manifest.from_bytes(message.payload)
    keys = DestinationKeys.load([testing.KEY_DIR / "tangerhuette-enc-2026.jwk.json"],
                                testing.KEY_DIR / "tangerhuette-sig-2026.jwk.json")
    spec = read(metadata_for(app), "1.1.0", "1.1.0").attachments[0]
    del content  # only its digest is needed from here on
    tracemalloc.start()
    try:
        stored = store_attachment(spec, manifest, Parts(manifest, env.blobs), keys,
                                  wiring.channel.verifier.registries.attachment, 64 * MIB, env.blobs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (stored.size, stored.sha512) == (24 * MIB, spec.sha512)
    assert peak < 8 * MIB, peak  # the token streams from the blob store into the blob store in 1 MiB chunks


def _parent_id(env: Env, stored: Any) -> str:
    return str(next(a for a in _metadata(stored)["contentStructure"]["attachments"] if a.get("fragments"))
               ["attachmentId"])


def _metadata(stored: Any) -> dict[str, Any]:
    keys = DestinationKeys.load([testing.KEY_DIR / "tangerhuette-enc-2026.jwk.json"],
                                testing.KEY_DIR / "tangerhuette-sig-2026.jwk.json")
    value = orjson.loads(jose.decrypt(stored.encrypted_metadata, keys.for_kid,
                                      jose.FitConnectJWERegistry(10**6, 10**6)))
    assert isinstance(value, dict)
    return value


def _committed() -> CommittedCase:
    return CommittedCase(id=str(uuid.uuid4()), reference="TGH-TEST", tenant_ars=testing.TENANT_ARS,
                         service_leika="99050012104000")


def test_one_attachment_beyond_the_channel_s_download_limit(env: Env) -> None:
    content = os.urandom(2 * 1024 + 100)
    app = dataclasses.replace(testing.application(attachment=None), attachments=[OutgoingAttachment(
        attachment_id=str(uuid.uuid4()), filename="scan.pdf", media_type="application/pdf", content=content)])
    created = env.efa.send(app)
    rejected(env, created, "technical-error", f"attachment:{app.attachments[0].attachment_id}", content,
             limits={"max_attachment_bytes": 2048})

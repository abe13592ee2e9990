"""Portal: the raw original and every attachment are durable before the commit that refers to
them, and the 201 (the portal's acknowledgement) comes only after that commit."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.e2e.conftest import Api, attachment_ref, hund_envelope, new_key
from tests.e2e.durability_trace import DurabilityTrace


def test_portal_blob_durable_then_commit_then_201(fresh_api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    trace = DurabilityTrace.install(fresh_api.gw, monkeypatch)
    scan = b"%PDF-1.7 " + os.urandom(4096)
    envelope = hund_envelope(attachments=[attachment_ref("nachweis", scan)])
    response = fresh_api.http.post(
        "/v1/applications", headers=fresh_api.auth("portal", **{"Idempotency-Key": new_key()}),
        files=[("application", ("application.json", json.dumps(envelope).encode(), "application/json")),
               ("nachweis", ("nachweis.pdf", scan, "application/pdf"))])
    trace.acknowledged(str(response.status_code))
    assert response.status_code == 201, response.text
    case = fresh_api.gw.cases.get(response.json()["case_id"], None)
    trace.check([case.original.storage_key, *(a.storage_key for a in case.attachments)], str(case.id), "201")


def test_the_trace_notices_a_missing_fsync(fresh_api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    trace = DurabilityTrace.install(fresh_api.gw, monkeypatch)
    files = getattr(fresh_api.gw.blobs, "inner", fresh_api.gw.blobs)  # the files under the encryption
    monkeypatch.setattr(files, "_durable", False)  # a store that skips its fsyncs
    response = fresh_api.http.post("/v1/applications", json=hund_envelope(),
                                   headers=fresh_api.auth("portal", **{"Idempotency-Key": new_key()}))
    trace.acknowledged(str(response.status_code))
    case = fresh_api.gw.cases.get(response.json()["case_id"], None)
    with pytest.raises(AssertionError, match="no fsync step"):
        trace.check([case.original.storage_key], str(case.id), "201")


def _steps(root: Path) -> list[tuple[str, str]]:
    digest = "ab" + "0" * 126
    tmp, final = f"{root}/ab/.tmp-1", f"{root}/ab/{digest}"
    return [("fsync", tmp), ("rename", f"{tmp} -> {final}"), ("fsync", f"{root}/ab"),
            ("write", f"INSERT INTO inbox ... ('sha512/{digest}')"), ("commit", ""),
            ("write", f"INSERT INTO cases ... ('case-1', '{digest}')"), ("commit", ""), ("ack", "201")]


@pytest.mark.parametrize("broken", ["fsync-skipped", "folder-fsync-skipped", "renamed-before-fsync",
                                    "folder-synced-after-the-row", "ack-before-commit", "ack-skipped"])
def test_the_trace_fails_on_every_reordered_or_skipped_step(tmp_path: Path, broken: str) -> None:
    key = "sha512/ab" + "0" * 126
    steps = _steps(tmp_path)
    DurabilityTrace(tmp_path, list(steps)).check([key], "case-1", "201")  # the right order passes
    if broken == "fsync-skipped":
        del steps[0]
    elif broken == "folder-fsync-skipped":
        del steps[2]
    elif broken == "renamed-before-fsync":
        steps[0], steps[1] = steps[1], steps[0]
    elif broken == "folder-synced-after-the-row":
        steps.insert(4, steps.pop(2))
    elif broken == "ack-before-commit":
        steps.insert(6, steps.pop())
    else:
        steps.pop()
    with pytest.raises(AssertionError):
        DurabilityTrace(tmp_path, steps).check([key], "case-1", "201")

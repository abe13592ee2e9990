"""XtaSender: forwarding a case is idempotent per (case, target), across crashes and processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.xta import samples, testing
from adapters.xta.client import XtaClient
from adapters.xta.errors import XtaServerError
from adapters.xta.sender import NAMESPACE, XtaSender, state_key
from gateway.case.model import Case
from gateway.ports import StateStore
from gateway.store.blobs import FilesystemBlobStore
from tests.unit.xta.conftest import Rig

TARGET = samples.STATE_PORTAL.value
CASE_JSON = Path(__file__).resolve().parents[3] / "fixtures" / "xta" / "case-wohngeld.json"


@pytest.fixture
def blobs(tmp_path: Path) -> FilesystemBlobStore:
    return FilesystemBlobStore(tmp_path / "blobs")


def _case(blobs: FilesystemBlobStore) -> Case:
    data = json.loads(CASE_JSON.read_text())
    key = blobs.put(b"%PDF-1.7 Mietvertrag")
    data["attachments"][0]["storage_key"] = key
    return Case.model_validate(data)


def test_send_delivers_case_and_attachments_to_the_target_mailbox(rig: Rig, blobs: FilesystemBlobStore) -> None:
    case = _case(blobs)
    forwarding = rig.sender.send(case, TARGET, blobs)
    stored = rig.state.messages[forwarding.remote_id]
    assert stored.metadata.reader.value == TARGET and stored.metadata.author.value == samples.TOWN.value
    assert stored.metadata.subject == case.reference
    assert Case.model_validate_json(stored.message.data) == case
    assert [a.data for a in stored.attachments] == [b"%PDF-1.7 Mietvertrag"]
    assert rig.sender.send(case, TARGET, blobs) == forwarding
    assert rig.state.calls["sendMessage"] == 1


def test_follow_reports_delivery_once_the_reader_closed(rig: Rig, blobs: FilesystemBlobStore) -> None:
    forwarding = rig.sender.send(_case(blobs), TARGET, blobs)
    assert rig.sender.follow(forwarding).status == "sent"
    rig.portal.close([forwarding.remote_id])
    assert rig.sender.follow(forwarding).status == "delivered"


def test_crash_before_send_reuses_the_recorded_message_id(rig: Rig, blobs: FilesystemBlobStore) -> None:
    case = _case(blobs)
    rig.state.fail_next("sendMessage", "9032")
    with pytest.raises(XtaServerError):
        rig.sender.send(case, TARGET, blobs)
    forwarding = rig.sender.send(case, TARGET, blobs)
    assert rig.state.calls["createMessageId"] == 1
    assert list(rig.state.messages) == [forwarding.remote_id]


def test_crash_after_send_is_recognised_by_9024(rig: Rig, blobs: FilesystemBlobStore,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    case = _case(blobs)
    original = XtaClient.send_message

    def send_then_die(self: XtaClient, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        raise XtaServerError("connection lost after the server stored the message")

    monkeypatch.setattr(XtaClient, "send_message", send_then_die)
    with pytest.raises(XtaServerError):
        rig.sender.send(case, TARGET, blobs)
    monkeypatch.setattr(XtaClient, "send_message", original)
    forwarding = rig.sender.send(case, TARGET, blobs)
    assert list(rig.state.messages) == [forwarding.remote_id]  # one message, not two
    assert rig.state.calls["sendMessage"] == 2


def test_each_target_gets_its_own_message(rig: Rig, blobs: FilesystemBlobStore) -> None:
    case = _case(blobs)
    first = rig.sender.send(case, TARGET, blobs)
    second = rig.sender.send(case, "wgb:150855500000", blobs)
    assert first.remote_id != second.remote_id and len(rig.state.messages) == 2


def _second_process(rig: Rig, tmp_path: Path, state: StateStore | None = None) -> XtaSender:
    """Another worker of the same installation: own client, same sandbox, same gateway database."""
    first = rig.sender
    return XtaSender(first.options, first.author, XtaClient(first.client.base_url, first.author, first.client.http),
                     state or testing.state_store(tmp_path / "gateway.db"))


def test_state_lives_in_the_gateway_database(rig: Rig, blobs: FilesystemBlobStore, tmp_path: Path) -> None:
    case = _case(blobs)
    forwarding = rig.sender.send(case, TARGET, blobs)
    stored = testing.state_store(tmp_path / "gateway.db").get(NAMESPACE, state_key(str(case.id), TARGET))
    assert stored == {"messageId": forwarding.remote_id, "sent": True}


def test_another_process_does_not_send_again(rig: Rig, blobs: FilesystemBlobStore, tmp_path: Path) -> None:
    case = _case(blobs)
    forwarding = rig.sender.send(case, TARGET, blobs)
    assert _second_process(rig, tmp_path).send(case, TARGET, blobs) == forwarding
    assert rig.state.calls["sendMessage"] == 1 and rig.state.calls["createMessageId"] == 1


def test_another_process_resumes_a_crashed_send_under_the_same_id(rig: Rig, blobs: FilesystemBlobStore,
                                                                   tmp_path: Path) -> None:
    case = _case(blobs)
    rig.state.fail_next("sendMessage", "9032")
    with pytest.raises(XtaServerError):
        rig.sender.send(case, TARGET, blobs)
    forwarding = _second_process(rig, tmp_path).send(case, TARGET, blobs)
    assert rig.state.calls["createMessageId"] == 1
    assert list(rig.state.messages) == [forwarding.remote_id]


class _StaleFirstRead:
    """A state store whose first read misses a record another process has just written."""

    def __init__(self, inner: StateStore) -> None:
        self.inner, self.reads = inner, 0

    def get(self, namespace: str, key: str) -> dict[str, object] | None:
        self.reads += 1
        return None if self.reads == 1 else self.inner.get(namespace, key)

    def put(self, namespace: str, key: str, value: dict[str, object]) -> None:
        self.inner.put(namespace, key, value)

    def add(self, namespace: str, key: str, value: dict[str, object], ttl_seconds: float | None = None) -> bool:
        return self.inner.add(namespace, key, value, ttl_seconds)


def test_a_concurrent_claim_is_lost_to_the_first_process(rig: Rig, blobs: FilesystemBlobStore,
                                                         tmp_path: Path) -> None:
    case = _case(blobs)
    forwarding = rig.sender.send(case, TARGET, blobs)
    racing = _second_process(rig, tmp_path, _StaleFirstRead(testing.state_store(tmp_path / "gateway.db")))
    assert racing.send(case, TARGET, blobs) == forwarding  # its own new MessageID is dropped, unused
    assert rig.state.calls["sendMessage"] == 1 and list(rig.state.messages) == [forwarding.remote_id]


def test_a_very_long_reader_address_still_fits_the_key() -> None:
    key = state_key("6f1c2f0e-0000-4000-8000-000000000001", "dvdv:" + "x" * 400)
    assert len(key) <= 255 and key.startswith("6f1c2f0e-0000-4000-8000-000000000001|sha256:")

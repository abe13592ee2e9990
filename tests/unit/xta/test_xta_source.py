"""XtaSource.poll: status list with paging, getMessage per new entry, no needless refetching."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from adapters.xta import samples
from adapters.xta import source as source_module
from adapters.xta.metadata import Party
from adapters.xta.original import MEDIA_TYPE, Original
from tests.unit.xta.conftest import Rig, RigFactory


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def paged(make_rig: RigFactory) -> Rig:
    return make_rig(page_size=2, refetch_after_seconds=300)


def test_poll_walks_all_pages_and_yields_the_stored_responses(paged: Rig) -> None:
    ids = [paged.post(samples.GEWERBE) for _ in range(5)]
    paged.post(samples.GEWERBE, reader=Party("wgb:150855500000"))  # another mailbox
    messages = list(paged.source.poll())
    assert [m.source_id for m in messages] == ids
    assert paged.state.calls["getNextStatusList"] == 2
    first = messages[0]
    assert first.channel == "xta" and first.tenant_ars == "150905350535"
    assert first.references == {"service": samples.GEWERBE.service, "messageType": samples.GEWERBE.code}
    # the raw original: a manifest naming the envelope and every MTOM part, each a blob as received
    assert first.media_type == MEDIA_TYPE
    original = Original.from_bytes(first.payload)
    assert original.content_type.startswith("multipart/related") and "boundary=" in original.content_type
    assert set(first.parts) == set(original.blobs) and all(paged.blobs.exists(key) for key in first.parts)
    assert b"GenericContentContainer" in paged.blobs.get(original.root.blob.key)
    assert [p.blob.key for p in original.parts] == [key for key in first.parts if key != original.root.blob.key]


def test_open_messages_are_not_fetched_again_until_refetch_after(paged: Rig) -> None:
    clock = Clock()
    paged.source._clock = clock
    message_id = paged.post()
    assert [m.source_id for m in paged.source.poll()] == [message_id]
    clock.now += 100
    assert list(paged.source.poll()) == []
    clock.now += 250
    assert [m.source_id for m in paged.source.poll()] == [message_id]
    assert paged.state.calls["getMessage"] == 2


def test_a_message_the_core_failed_on_is_fetched_on_the_next_poll(paged: Rig) -> None:
    first, second = paged.post(), paged.post()
    for message in paged.source.poll():
        assert message.source_id == first
        break  # the core raised while storing it: the generator is abandoned
    assert [m.source_id for m in paged.source.poll()] == [first, second]


def test_closed_messages_disappear_and_poll_interval_is_respected(make_rig: RigFactory) -> None:
    rig = make_rig(poll_interval_seconds=60)
    clock = Clock()
    rig.source._clock = clock
    message_id = rig.post()
    assert len(list(rig.source.poll())) == 1
    rig.town.close([message_id])
    rig.post()
    assert list(rig.source.poll()) == []  # within the interval: no call at all
    assert rig.state.calls["getStatusList"] == 1
    clock.now += 61
    assert len(list(rig.source.poll())) == 1


def test_failures_surface_to_the_core_and_nothing_is_lost(rig: Rig) -> None:
    message_id = rig.post()
    rig.state.fail_next("getStatusList", "9011")
    with pytest.raises(Exception, match="9011"):
        list(rig.source.poll())
    rig.state.fail_next("getMessage", "9030")
    with pytest.raises(Exception, match="9030"):
        list(rig.source.poll())
    assert [m.source_id for m in rig.source.poll()] == [message_id]


def test_message_closed_between_list_and_fetch_is_skipped(rig: Rig) -> None:
    gone, kept = rig.post(), rig.post()
    rig.state.fail_next("getMessage", fault="InvalidMessageIDException")
    assert [m.source_id for m in rig.source.poll()] == [kept]
    assert gone != kept


def test_a_malformed_status_entry_is_skipped_without_blocking_the_others(
        paged: Rig, caplog: pytest.LogCaptureFixture) -> None:
    ids = [paged.post(samples.GEWERBE) for _ in range(5)]
    stored = paged.state.messages[ids[1]]
    stored.metadata = dataclasses.replace(stored.metadata, subject="Erika Mustermann " * 100)
    with caplog.at_level(logging.WARNING, logger="adapters.xta"):
        messages = list(paged.source.poll())
    assert [m.source_id for m in messages] == [ids[0], *ids[2:]]
    assert f"status list entry '{ids[1]}' skipped" in caplog.text and "Mustermann" not in caplog.text


def test_paging_stops_after_a_bounded_number_of_pages(make_rig: RigFactory, monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    rig = make_rig(page_size=1)
    monkeypatch.setattr(source_module, "MAX_PAGES_PER_POLL", 2)
    ids = [rig.post(samples.GEWERBE) for _ in range(3)]
    with caplog.at_level(logging.WARNING, logger="adapters.xta"):
        assert [m.source_id for m in rig.source.poll()] == ids[:2]
    assert "still has 1 pending after 2 pages" in caplog.text
    rig.town.close(ids[:2])  # the core has committed and acknowledged them
    assert [m.source_id for m in rig.source.poll()] == ids[2:]

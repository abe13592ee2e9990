"""An XTA adapter (channel, source, sender) wired to an in-process sandbox."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from adapters.xta import samples, testing
from adapters.xta.channel import XtaChannel
from adapters.xta.client import Content, XtaClient
from adapters.xta.original import MEDIA_TYPE, Original
from adapters.xta.plugin import build, load_options
from adapters.xta.sandbox.store import SandboxState
from adapters.xta.sender import XtaSender
from adapters.xta.source import XtaSource
from gateway.ports import BlobStore, InboundMessage
from gateway.store.blobs import FilesystemBlobStore

REPO = Path(__file__).resolve().parents[3]


@dataclass
class Rig:
    state: SandboxState
    channel: XtaChannel
    source: XtaSource
    sender: XtaSender
    portal: XtaClient
    town: XtaClient
    blobs: BlobStore

    def post(self, kind: samples.MessageKind = samples.WOHNGELD, payload: bytes | None = None,
             attachments: tuple[Content, ...] = (), **kw: Any) -> str:
        data = payload if payload is not None else kind.fixtures()[0].read_bytes()
        return samples.post(self.portal, kind, data, attachments, **kw)

    def fetched(self, message_id: str) -> InboundMessage:
        """The message as the source hands it to the core: a manifest of blobs (adapters/xta/original.py)."""
        original = self.town.fetch_message(message_id, self.blobs)
        return InboundMessage(channel="xta", source_id=message_id, payload=original.to_bytes(), media_type=MEDIA_TYPE,
                              received_at=dt.datetime.now(dt.UTC), parts=original.blobs)

    def raw(self, message_id: str) -> InboundMessage:
        """The message as inbox rows written before the manifest hold it: the whole response."""
        response = self.town.get_message(message_id)
        return InboundMessage(channel="xta", source_id=message_id, payload=response.raw,
                              media_type=response.content_type, received_at=dt.datetime.now(dt.UTC))

    def envelope(self, message: InboundMessage) -> bytes:
        return self.blobs.get(Original.from_bytes(message.payload).root.blob.key)

    def with_envelope(self, message: InboundMessage, envelope: bytes) -> InboundMessage:
        """``message`` with another SOAP envelope (a stored message tampered with)."""
        original = Original.from_bytes(message.payload)
        root = dataclasses.replace(original.root, blob=self.blobs.put_stream([envelope]))
        return dataclasses.replace(message, payload=dataclasses.replace(original, root=root).to_bytes())


RigFactory = Callable[..., Rig]


@pytest.fixture
def make_rig(tmp_path: Path) -> RigFactory:
    def make(*, mtom_responses: bool = True, **overrides: Any) -> Rig:
        http, state = testing.sandbox_http(mtom_responses=mtom_responses)
        options = load_options(testing.options(**overrides))
        blobs = FilesystemBlobStore(tmp_path / "blobs", durable=False)
        channel, source, sender = build(options, REPO, testing.state_store(tmp_path / "gateway.db"), blobs, http)
        return Rig(state, channel, source, sender, testing.client_for(samples.STATE_PORTAL, http),
                   testing.client_for(samples.TOWN, http), blobs)

    return make


@pytest.fixture
def rig(make_rig: RigFactory) -> Rig:
    return make_rig()

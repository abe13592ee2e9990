"""Reading a stored getMessage response: MessageMetaData plus the GenericContentContainer.

Works on the envelope and the binary parts of a stored message (:mod:`.original`): parts that
were streamed into the blob store stay there (``Content.data`` is their blob), so a message can
be verified again from the inbox at any time without holding its attachments in memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from adapters.xta.metadata import MessageMetaData
from adapters.xta.ns import OSCIMETA, XTA, q
from adapters.xta.soap import parse_envelope, read_fault, xop_content
from gateway.errors import InvalidPayload
from gateway.ports import StoredBlob

# The envelope of a getMessage response is small when binary content travels as MTOM parts;
# inline base64 makes it as large as the message (libxml2 then caps single text nodes at 10 MB).
ROOT_MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Content:
    data: memoryview | StoredBlob  # inline or from a message held in memory | streamed into the blob store
    media_type: str
    filename: str | None
    description: str | None
    declared_size: int | None
    declared_id: str | None  # ContentType/@id, chosen by the sender

    @property
    def size(self) -> int:
        return self.data.size if isinstance(self.data, StoredBlob) else len(self.data)


@dataclass(frozen=True)
class FetchedMessage:
    metadata: MessageMetaData
    message: Content
    attachments: list[Content]


def _content(el: Any, parts: Mapping[str, StoredBlob | memoryview]) -> Content:
    data = xop_content(el, parts)
    get = el.get
    size = get("size")
    if not get("contentType"):
        raise InvalidPayload("GenericContentContainer: content without contentType")
    return Content(data, get("contentType"), get("filename"), get("contentDescription"),
                   int(size) if size and size.isdigit() else None, get("id"))


def read_message(root: bytes | memoryview, parts: Mapping[str, StoredBlob | memoryview]) -> FetchedMessage:
    """The message in an envelope (``root``) whose XOP includes name ``parts`` by Content-ID."""
    env = parse_envelope(root, max_bytes=ROOT_MAX_BYTES)
    if read_fault(env) is not None:
        raise InvalidPayload("stored XTA response is a SOAP fault, not a message")
    header = env.header.find(q(OSCIMETA, "MessageMetaData")) if env.header is not None else None
    if header is None:
        raise InvalidPayload("getMessage response without a MessageMetaData header")
    container = env.body.find(f"{q(XTA, 'GenericContentContainer')}/{q(XTA, 'ContentContainer')}")
    if container is None:
        raise InvalidPayload("getMessage response without GenericContentContainer/ContentContainer "
                             "(encrypted content is not supported)")
    message = container.find(q(XTA, "Message"))
    if message is None:
        raise InvalidPayload("ContentContainer without a Message")
    return FetchedMessage(MessageMetaData.from_xml(header), _content(message, parts),
                          [_content(a, parts) for a in container.findall(q(XTA, "Attachment"))])

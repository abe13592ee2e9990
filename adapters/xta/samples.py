"""Sample XTA traffic for the demo sender and the tests: parties, message kinds, a poster.

TEST/DEMO DATA: the party addresses are the demo municipality and a stand-in for the state
portal; the payloads come from ``fixtures/mappings/xoev.*``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from adapters.xta.client import Content, XtaClient
from adapters.xta.metadata import KeyCode, MessageMetaData, Party
from adapters.xta.ns import BUSINESS_SCENARIO_LIST, ELEMENT_NAME_LIST, PROJECT_ROOT

TOWN = Party("wgb:150905350535", name="Einheitsgemeinde Stadt Tangerhütte")
STATE_PORTAL = Party("wgb:150000000000", name="Landesportal Sachsen-Anhalt")
FIXTURES = PROJECT_ROOT / "fixtures" / "mappings"


@dataclass(frozen=True)
class MessageKind:
    code: str
    payload_schema: str
    service: str
    business_scenario: str
    fixture_dir: str

    def fixtures(self) -> list[Path]:
        return sorted((FIXTURES / self.fixture_dir).glob("*.input.xml"))


WOHNGELD = MessageKind("fim.S05000227.05000227001005", "urn:xoev-de:xfall:standard:fim-s05000227_1.5",
                       "urn:fim:Wohngeld-Mietzuschuss:1.5", "FIM-WOHNGELD_DATA", "xoev.wohngeld-mietzuschuss")
GEWERBE = MessageKind("gewerbe.anmeldung.0100", "urn:rathaus-gateway:xoev:gewerbeanzeige:1.0",
                      "urn:rathaus-gateway:service:gewerbeanzeige:1.0", "GEWERBE_ANMELDUNG",
                      "xoev.gewerbe-anmelden")


def metadata(kind: MessageKind, message_id: str, size: int, *, author: Party = STATE_PORTAL,
             reader: Party = TOWN, subject: str | None = None) -> MessageMetaData:
    return MessageMetaData(
        message_id=message_id, author=author, reader=reader, service=kind.service,
        business_scenario=KeyCode(kind.business_scenario, BUSINESS_SCENARIO_LIST, "1"),
        message_type=KeyCode(kind.code, ELEMENT_NAME_LIST, "1.0"), payload_schema=kind.payload_schema,
        msg_size=size, subject=subject, origin=dt.datetime.now(dt.UTC))


def post(client: XtaClient, kind: MessageKind, payload: bytes, attachments: Sequence[Content] = (),
         *, reader: Party = TOWN, subject: str | None = None) -> str:
    """Send one message as ``client.author`` to ``reader``; returns its MessageID."""
    message_id = client.create_message_id()
    size = len(payload) + sum(len(a.data) for a in attachments)
    client.send_message(metadata(kind, message_id, size, author=client.author, reader=reader, subject=subject),
                        Content(payload, "application/xml", "antrag.xml", encoding="UTF-8"), attachments)
    return message_id

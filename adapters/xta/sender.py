"""Forward a case to another authority through XTA: createMessageId, then sendMessage (MTOM).

Idempotent per (case, reader) across processes and hosts: the MessageID is claimed in the
gateway's database (``ctx.state``, namespace ``xta.sender``) before sendMessage
(:mod:`adapters.xta.claims`), so a crash or a second worker never produces a second message.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt

from adapters.xta import claims
from adapters.xta.client import Content, XtaClient
from adapters.xta.errors import XtaMessageIdUsed
from adapters.xta.metadata import KeyCode, MessageMetaData, Party
from adapters.xta.options import SenderOptions
from gateway.case.model import Case
from gateway.ports import BlobStore, Forwarding, StateStore

NAMESPACE = "xta.sender"
# TransportReport MessageStatus/Status: 0 open, 1 green, 2 yellow (warnings only), 3 red (errors).
_STATUS = {0: "sent", 1: "delivered", 2: "delivered", 3: "failed"}


def state_key(case_id: str, reader: str) -> str:
    return claims.state_key(case_id, reader)


class XtaSender:
    name = "xta"

    def __init__(self, options: SenderOptions, author: Party, client: XtaClient, state: StateStore) -> None:
        self.options = options
        self.author = author
        self.client = client
        self.state = state

    def send(self, case: Case, target: str, blobs: BlobStore) -> Forwarding:
        key = state_key(str(case.id), target)
        record = claims.claim(self.state, NAMESPACE, key, self.client.create_message_id)
        message_id = str(record["messageId"])
        if record.get("sent"):
            return Forwarding("xta", target, message_id, "sent")
        message = Content(case.model_dump_json().encode(), "application/json", f"{case.reference}.json",
                          "Vorgang im Format case-v1", "UTF-8")
        attachments = [Content(blobs.get(a.storage_key), a.media_type, a.filename, a.description)
                       for a in case.attachments]
        metadata = MessageMetaData(
            message_id=message_id, author=self.author, reader=Party(target), service=self.options.service,
            business_scenario=KeyCode(self.options.business_scenario),
            message_type=KeyCode(self.options.message_type, self.options.message_type_list, "1.0"),
            payload_schema=self.options.payload_schema,
            msg_size=len(message.data) + sum(len(a.data) for a in attachments),
            subject=case.reference, origin=dt.datetime.now(dt.UTC))
        with contextlib.suppress(XtaMessageIdUsed):  # an earlier attempt with this id arrived
            self.client.send_message(metadata, message, attachments)
        claims.mark_sent(self.state, NAMESPACE, key, message_id)
        return Forwarding("xta", target, message_id, "sent")

    def follow(self, forwarding: Forwarding) -> Forwarding:
        report = self.client.get_transport_report(forwarding.remote_id)
        return dataclasses.replace(forwarding, status=_STATUS.get(report.status, "unknown"))

"""The ``xta`` reply channel of the core (gateway.ports.ReplyChannelAdapter): the answer to a case
that arrived over XTA goes back to the message's author (its PartyIdentifier), labelled with the
answer type configured for the incoming format (``answers`` in the options), ``In-Reply-To`` the
incoming MessageID. The payload is the gateway's answer document (:mod:`adapters.xta.answer`),
the reply's documents its attachments.

Exactly once per delivery: the MessageID is claimed in the gateway's database before sendMessage
(:mod:`adapters.xta.claims`); a repeated attempt sends under the same id and the server's 9024
proves the earlier one arrived. ``follow`` reads the TransportReport: open -> sent; green/yellow
(the author fetched and closed it) -> delivered; red -> failed."""

from __future__ import annotations

import contextlib
import datetime as dt

from adapters.xta import claims
from adapters.xta.answer import answer_document
from adapters.xta.client import Content, XtaClient
from adapters.xta.errors import XtaMessageIdUsed
from adapters.xta.metadata import KeyCode, MessageMetaData, Party
from adapters.xta.options import AnswerOptions, XtaOptions
from gateway.case.model import Case
from gateway.errors import ConfigurationError
from gateway.ports import BlobStore, DeliveryReport, DeliveryState, OutgoingReply, StateStore

CHANNEL = "xta"
NAMESPACE = "xta.replies"
_STATES: dict[int, DeliveryState] = {0: "sent", 1: "delivered", 2: "delivered", 3: "failed"}


class XtaReplyChannel:
    name = CHANNEL

    def __init__(self, options: XtaOptions, author: Party, client: XtaClient, state: StateStore) -> None:
        self.options, self.author, self.client, self.state = options, author, client, state

    def _answer(self, case: Case) -> AnswerOptions | None:
        return self.options.answers.get(case.source.references.get("messageType", ""))

    def recipient(self, case: Case) -> str | None:
        """The author of the XTA message the case came from, if its format has an answer type."""
        if case.source.channel != CHANNEL or case.tenant.ars != self.options.tenant_ars:
            return None
        author = case.source.references.get("author")
        return author if author and self._answer(case) is not None else None

    def deliver(self, reply: OutgoingReply, blobs: BlobStore) -> DeliveryReport:
        answer = self._answer(reply.case)
        if answer is None:
            raise ConfigurationError("the answer type of the case's format is no longer configured")
        record = claims.claim(self.state, NAMESPACE, reply.delivery_id, self.client.create_message_id)
        message_id = str(record["messageId"])
        if not record.get("sent"):
            now = dt.datetime.now(dt.UTC)
            message = Content(answer_document(reply, self.options.party_name or self.options.party, now),
                              "application/xml", "antwort.xml", "Antwort auf den Antrag", "UTF-8")
            attachments = [Content(blobs.get(d.storage_key), d.media_type, d.filename, "Dokument der Antwort")
                           for d in reply.documents]
            metadata = MessageMetaData(
                message_id=message_id, author=self.author, reader=Party(reply.recipient), service=answer.service,
                business_scenario=KeyCode(answer.business_scenario, answer.business_scenario_list, "1"),
                message_type=KeyCode(answer.message_type, answer.message_type_list, answer.message_type_version),
                payload_schema=answer.payload_schema,
                msg_size=len(message.data) + sum(len(a.data) for a in attachments),
                subject=reply.case.reference, origin=now, in_reply_to=(reply.case.source.id,))
            with contextlib.suppress(XtaMessageIdUsed):  # an earlier attempt with this id arrived
                self.client.send_message(metadata, message, attachments)
            claims.mark_sent(self.state, NAMESPACE, reply.delivery_id, message_id)
        return DeliveryReport(state="sent", remote_id=message_id, detail=f"XTA answer {answer.message_type}")

    def follow(self, reply: OutgoingReply, last: DeliveryReport) -> DeliveryReport:
        if not last.remote_id:
            return last
        report = self.client.get_transport_report(last.remote_id)
        state = _STATES.get(report.status)
        if state is None:  # a status the published list does not have: nothing learnt
            return last
        detail = f"TransportReport status {report.status}"
        if report.error_codes:
            detail += f", errors {' '.join(c for c in report.error_codes if c.isalnum())[:200]}"
        return DeliveryReport(state=state, remote_id=last.remote_id, detail=detail, final=state != "sent")

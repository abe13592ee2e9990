"""The two payloads a ZBP envelope carries, built from a reply and checked against the derived
schema (``schemas/fitconnect/zbp-message-v6.schema.json``) before anything is signed.

Field names and limits: see :mod:`.zbp` and the schema's README. What is ours (marked [D] in the
README): the STORK-QAA level a message asks for, the status monitor's application id when the
case brings none, and the mapping of case statuses to ZBP statuses.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from jsonschema import Draft202012Validator

from adapters.fitconnect.schemas import SCHEMAS_DIR, compile_schema, first_error
from adapters.fitconnect.zbp import created_date
from gateway.case.model import Case
from gateway.errors import PermanentError
from gateway.ports import OutgoingReply

SCHEMA_FILE = SCHEMAS_DIR / "fitconnect" / "zbp-message-v6.schema.json"
_STORK = re.compile(r"STORK-QAA-Level-([1-4])$")
_LEVEL_BY_TRUST = {"niedrig": 1, "substantiell": 3, "hoch": 4}
# the status monitor's applications without an id of their own: derived from the case id [D]
_APPLICATIONS = uuid.UUID("5a0d8e3c-2f41-4b7a-9e16-c3b8d0f4a275")
# case status -> ZBP status; the online service sets INITIATED and SUBMITTED itself [D]
ZBP_STATUS = {"received": "RECEIVED", "in_progress": "PROCESSING", "decided": "COMPLETED", "closed": "COMPLETED",
              "withdrawn": "COMPLETED", "action_required": "ACTION_REQUIRED"}
GATEWAY_STATUSES = frozenset({"RECEIVED", "PROCESSING", "ACTION_REQUIRED", "COMPLETED"})
APPLICATION_ID_REFERENCE = "zbpApplicationId"


class PostboxRefused(PermanentError):
    slug = "postbox-refused"
    title = "The reply cannot go to the citizen postbox"


@dataclass(frozen=True)
class Sender:
    """What the authority says about itself in every message (options ``postbox``)."""

    name: str
    retrieval_confirmation_address: str | None = None
    reply_address: str | None = None
    url: str | None = None
    default_stork_qaa_level: int = 3
    minimum_stork_qaa_level: int = 1


@dataclass(frozen=True)
class Document:
    filename: str
    sha512: str
    size: int


def mailbox_of(case: Case) -> str | None:
    """The citizen's mailbox: the reply channel the application named (``bundid:<uuid>``), else
    the postbox handle of the login (SAML attribute 2.5.4.18)."""
    candidates = []
    if case.reply_channel is not None and case.reply_channel.kind == "postbox":
        candidates.append(case.reply_channel.address.removeprefix("bundid:"))
    account = case.applicant.account
    if account is not None and account.postbox_reference:
        candidates.append(account.postbox_reference)
    for candidate in candidates:
        try:
            if len(candidate) == 36:
                return str(uuid.UUID(candidate))
        except ValueError:
            continue
    return None


def stork_level(case: Case, sender: Sender) -> int:
    """The level a citizen must log in with to read the message: that of the application's login."""
    account = case.applicant.account
    level = sender.default_stork_qaa_level
    if account is not None:
        match = _STORK.search(account.authn_context or "")
        level = int(match.group(1)) if match else _LEVEL_BY_TRUST[account.trust_level.value]
    return max(level, sender.minimum_stork_qaa_level)


def application_id(case: Case) -> str:
    given = case.source.references.get(APPLICATION_ID_REFERENCE)
    return given.lower() if given else str(uuid.uuid5(_APPLICATIONS, str(case.id)))


def message(reply: OutgoingReply, mailbox: str, documents: list[Document], sender: Sender) -> dict[str, Any]:
    case = reply.case
    payload: dict[str, Any] = {
        "mailboxUuid": mailbox, "stork_qaa_level": stork_level(case, sender), "sender": sender.name,
        "title": reply.title, "content": reply.text, "service": case.service.name,
        "applicationId": application_id(case), "reference": case.reference,
    }
    for member, value in (("senderUrl", sender.url), ("replyAddress", sender.reply_address),
                          ("retrievalConfirmationAddress", sender.retrieval_confirmation_address)):
        if value:
            payload[member] = value
    if documents:
        payload["attachments"] = [{"filename": d.filename, "sha512sum": d.sha512, "contentLength": d.size}
                                  for d in documents]
    return payload


def status(reply: OutgoingReply, sender: Sender, now: dt.datetime) -> dict[str, Any]:
    wanted = reply.status or ""
    value = ZBP_STATUS.get(wanted, wanted if wanted in GATEWAY_STATUSES else None)
    if value is None:
        raise PostboxRefused("the status monitor knows no status for this reply", status=wanted[:40])
    payload: dict[str, Any] = {
        "applicationId": application_id(reply.case), "status": value,
        "publicServiceName": {"de": reply.case.service.name}, "senderName": sender.name,
        "createdDate": created_date(now),
        "reference": reply.case.reference,
    }
    if reply.title:
        payload["statusDetails"] = {"de": reply.title}
    if reply.text:
        payload["additionalInformation"] = {"de": reply.text}
    return payload


class PayloadSchema:
    """The derived schema's ``message`` and ``status`` definitions, compiled once."""

    def __init__(self) -> None:
        schema = orjson.loads(SCHEMA_FILE.read_bytes())
        self.envelope = compile_schema(schema)
        self.kinds: dict[str, Draft202012Validator] = {
            kind: compile_schema({"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": f"#/$defs/{kind}"})
            for kind in ("message", "status")}

    def check(self, kind: str, payload: dict[str, Any]) -> None:
        """Refuse a payload the postbox would refuse; the report names the place, not the value."""
        if self.kinds[kind].is_valid(payload):
            return
        where = first_error(self.kinds[kind], payload)
        if where is not None:
            raise PostboxRefused(f"the postbox {kind} would violate its schema at {where}")

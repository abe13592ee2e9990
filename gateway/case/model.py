"""Internal case format v1 — the single source of truth.

``schemas/case/case-v1.schema.json`` is generated from :class:`Case`
(``rathaus-gateway schema export``); a test fails when the two differ.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydField

SCHEMA_VERSION: Literal["1.0"] = "1.0"

ArsCode = Annotated[str, PydField(pattern=r"^[0-9]{12}$", description="Amtlicher Regionalschlüssel")]
LeikaKey = Annotated[str, PydField(pattern=r"^99[0-9]{12}$", description="LeiKa Leistungsschlüssel")]
Sha512Hex = Annotated[str, PydField(pattern=r"^[0-9a-f]{128}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class TrustLevel(StrEnum):
    """eIDAS trust levels as used by BundID / Servicekonto (STORK-QAA 1-2, 3, 4)."""

    NIEDRIG = "niedrig"
    SUBSTANTIELL = "substantiell"
    HOCH = "hoch"

    @property
    def rank(self) -> int:
        return {"niedrig": 1, "substantiell": 2, "hoch": 3}[self.value]


class CaseStatus(StrEnum):
    RECEIVED = "received"
    IN_PROGRESS = "in_progress"
    DECIDED = "decided"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"


class Decision(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"


class TenantRef(_Strict):
    ars: ArsCode
    name: str


class ServiceRef(_Strict):
    leika: LeikaKey
    name: str
    mapping_id: str
    mapping_version: int


class SourceReference(_Strict):
    """Where the application came from, in the source system's own identifiers."""

    channel: str = PydField(description="portal | fitconnect | xta | ...")
    id: str = PydField(description="the channel's unique message id (submissionId, MessageID, request id)")
    references: dict[str, str] = PydField(
        default_factory=dict, description="further ids, e.g. FIT-Connect caseId, XTA service"
    )


class Address(_Strict):
    street: str | None = None
    house_number: str | None = None
    postal_code: str | None = None
    city: str | None = None
    addition: str | None = None
    country: str = "DE"


class Contact(_Strict):
    email: str | None = None
    phone: str | None = None


class AccountIdentity(_Strict):
    """Identity of a logged-in applicant (BundID / Servicekonto)."""

    provider: str = PydField(description="bundid | servicekonto-st | ...")
    pseudonym: str = PydField(description="stable per-service-provider pseudonym (e.g. bPK2)")
    trust_level: TrustLevel
    postbox_reference: str | None = None
    proved_by: str | None = PydField(default=None, description="how the login was proved (AssertionProvedBy, "
                                     "e.g. eID, Elster, Benutzername)")
    authn_context: str | None = PydField(default=None, description="the login's authentication context as the "
                                         "identity provider stated it (STORK-QAA-Level-1..4)")


class NaturalPerson(_Strict):
    kind: Literal["natural_person"] = "natural_person"
    given_names: str
    family_name: str
    birth_name: str | None = None
    title: str | None = None
    birth_date: dt.date | None = None
    birth_place: str | None = None
    address: Address | None = None
    contact: Contact | None = None


class Organisation(_Strict):
    kind: Literal["organisation"] = "organisation"
    name: str
    legal_form: str | None = None
    register_number: str | None = None
    address: Address | None = None
    contact: Contact | None = None
    contact_person: str | None = None


Party = Annotated[NaturalPerson | Organisation, PydField(discriminator="kind")]


class Applicant(_Strict):
    party: Party
    account: AccountIdentity | None = None
    representative: Party | None = None


FieldType = Literal["string", "text", "date", "datetime", "boolean", "integer", "decimal", "code", "group"]
FieldValue = str | bool | int | Decimal | dt.date | dt.datetime | None


class Field(_Strict):
    """One normalised form field. Groups hold their members in ``items``;
    a repeated group has one inner list per repetition, a plain group exactly one."""

    key: str = PydField(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    type: FieldType
    fim_id: str | None = PydField(default=None, pattern=r"^[FG][0-9]{8}$")
    value: FieldValue = None
    code_list: str | None = None
    code_label: str | None = None
    repeated: bool = False
    items: list[list[Field]] | None = None


class Attachment(_Strict):
    id: str
    filename: str
    media_type: str
    size: int = PydField(ge=0)
    sha512: Sha512Hex
    storage_key: str
    purpose: Literal["form", "attachment", "report"] = "attachment"
    description: str | None = None


class Payment(_Strict):
    method: str | None = None
    status: str
    amount: Decimal | None = None
    currency: str = "EUR"
    transaction_id: str | None = None
    reference: str | None = None


class ReplyChannel(_Strict):
    kind: Literal["email", "demail", "fink", "elster", "fitconnect", "postbox", "xta", "post"]
    address: str


class StatusChange(_Strict):
    status: CaseStatus
    decision: Decision | None = None
    at: dt.datetime
    by: str
    note: str | None = None


class ValidationWarning(_Strict):
    code: str
    field: str | None = None
    message: str


class OriginalPayload(_Strict):
    """The raw message as received, kept in the blob store for audit."""

    storage_key: str
    sha512: Sha512Hex
    media_type: str
    size: int


class Case(_Strict):
    schema_version: Literal["1.0"] = "1.0"
    id: UUID
    reference: str = PydField(pattern=r"^[A-Z]{2,6}-[0-9]{4}-[0-9]{6}$")
    version: int = PydField(default=1, ge=1, description="optimistic concurrency counter")
    tenant: TenantRef
    service: ServiceRef
    source: SourceReference
    received_at: dt.datetime
    submitted_at: dt.datetime | None = None
    routing_queue: str
    applicant: Applicant
    form: list[Field]
    attachments: list[Attachment] = PydField(default_factory=list)
    payment: Payment | None = None
    reply_channel: ReplyChannel | None = None
    status: CaseStatus = CaseStatus.RECEIVED
    decision: Decision | None = None
    status_history: list[StatusChange]
    warnings: list[ValidationWarning] = PydField(default_factory=list)
    original: OriginalPayload

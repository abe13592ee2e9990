"""What a mapping produces: the form-dependent parts of a case."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydField

from gateway.case.model import Field, Party, Payment, ReplyChannel, ValidationWarning


class MappedApplication(BaseModel):
    """Applicant, form and extras of one application, before the core adds tenant,
    service, source and status to make it a :class:`gateway.case.model.Case`."""

    model_config = ConfigDict(extra="forbid")

    party: Party
    representative: Party | None = None
    form: list[Field]
    warnings: list[ValidationWarning] = PydField(default_factory=list)
    submitted_at: dt.datetime | None = None
    payment: Payment | None = None
    reply_channel: ReplyChannel | None = None

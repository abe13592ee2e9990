"""Status transitions of a case and the one place that applies them."""

from __future__ import annotations

import datetime as dt

from gateway.case.model import Case, CaseStatus, Decision, StatusChange
from gateway.errors import InvalidRequest

ALLOWED: dict[CaseStatus, set[CaseStatus]] = {
    CaseStatus.RECEIVED: {CaseStatus.IN_PROGRESS, CaseStatus.WITHDRAWN},
    CaseStatus.IN_PROGRESS: {CaseStatus.DECIDED, CaseStatus.WITHDRAWN},
    CaseStatus.DECIDED: {CaseStatus.CLOSED},
    CaseStatus.CLOSED: set(),
    CaseStatus.WITHDRAWN: set(),
}


def transition(case: Case, to: CaseStatus, *, decision: Decision | None, note: str | None, by: str,
               at: dt.datetime) -> Case:
    """Returns the changed case (version + 1); refuses transitions the lifecycle does not allow."""
    if to not in ALLOWED[case.status]:
        raise InvalidRequest(f"a case in status {case.status.value!r} cannot become {to.value!r}",
                             current_status=case.status.value, allowed=sorted(s.value for s in ALLOWED[case.status]))
    if to is CaseStatus.DECIDED and decision is None:
        raise InvalidRequest("a decision (approved or rejected) is required to decide a case")
    if to is not CaseStatus.DECIDED and decision is not None:
        raise InvalidRequest("a decision can only be given together with status 'decided'")
    change = StatusChange(status=to, decision=decision, at=at, by=by, note=note)
    return case.model_copy(update={
        "status": to,
        "decision": decision if to is CaseStatus.DECIDED else case.decision,
        "status_history": [*case.status_history, change],
        "version": case.version + 1,
    })

"""E-POST letter status -> the gateway's delivery states.

| statusID | E-POST meaning [S]                                   | delivery state |
|---|---|---|
| (upload answered with a letterID)                                  | | sent |
| 1  | accepted (Annahme): received, not yet checked                    | sent |
| 2  | processed: the PDF and address passed E-POST's checks            | accepted |
| 3  | handed to the print centre                                       | accepted |
| 4  | printed, enveloped and handed to Deutsche Post (billed)          | delivered |
| 99 | error (final; ``errorList`` says why; must be uploaded again)    | failed |

"delivered" is the last state hybrid mail reports for an ordinary letter: posted, not received by
the applicant. With ``testFlag`` E-POST stops after status 2, so "accepted" is final there.
An unknown statusID maps to no state: keep the previous one and look again later.
"""

from __future__ import annotations

from enum import StrEnum

from adapters.hybridmail.wire import LetterStatus


class DeliveryState(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    ACCEPTED = "accepted"
    DELIVERED = "delivered"
    FAILED = "failed"


STATUS_STATES: dict[int, DeliveryState] = {
    1: DeliveryState.SENT,
    2: DeliveryState.ACCEPTED,
    3: DeliveryState.ACCEPTED,
    4: DeliveryState.DELIVERED,
    99: DeliveryState.FAILED,
}
STATUS_NAMES: dict[int, str] = {1: "accepted", 2: "processed", 3: "at the print centre", 4: "dispatched",
                                99: "error"}


def delivery_state(status: LetterStatus) -> DeliveryState | None:
    return STATUS_STATES.get(status.status_id)


def is_final(status: LetterStatus) -> bool:
    state = delivery_state(status)
    if state in (DeliveryState.DELIVERED, DeliveryState.FAILED):
        return True
    return bool(status.test_flag) and state == DeliveryState.ACCEPTED

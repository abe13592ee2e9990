"""XTA error codes and faults, mapped onto the gateway's error hierarchy.

::

    TransientError
    ├── XtaAccountUnusable     9010 9011 9012 9014  certificate/account: an admin must act,
    │                                               the message itself is fine (never quarantine it)
    └── UpstreamUnavailable
        └── XtaServerError     9030 9031 9032, XTAWSTechnicalProblemException, network, HTTP 5xx
    PermanentError
    ├── XtaServiceNotBooked    9013  the account may not use this service
    ├── XtaMessageIdUsed       9024  the MessageID was used before (a repeated send)
    ├── XtaUnknownMessage      9070, InvalidMessageIDException: not (or no longer) in the mailbox
    ├── XtaRequestRejected     9020-9023, 9052, 9060, 9080/9081, 9100/9101, ParameterIsNotValid,
    │                          SyncAsync, virus, CancelDenied, other Sender faults
    └── InvalidPayload
        ├── XtaSchemaViolation 9050  payload not valid against its schema
        └── XtaWrongEncoding   9051

The codes are those of the XTA code list ``urn:de:xta:webservice:codeliste:fehlernummer`` (1.0);
a fault carries one in ``<xta:errorCode><code>…</code><name>…</name></xta:errorCode>`` inside
the exception element of the SOAP Fault Detail. 9000 ("unspecified, described as free text")
says nothing by itself: the exception element decides.

Details never repeat the server's free text: it may quote message content. Identifiers the
other side chose (media types, element names, codes) appear only through :func:`shown`.
"""

from __future__ import annotations

import re

from gateway.errors import (
    GatewayError,
    InvalidPayload,
    PermanentError,
    TransientError,
    UpstreamUnavailable,
)

CODE_LIST = "urn:de:xta:webservice:codeliste:fehlernummer"
_ERROR_NUMBER = re.compile(r"^\d{1,8}$")
_SOAP_CODES = frozenset({"Sender", "Receiver", "VersionMismatch", "MustUnderstand", "DataEncodingUnknown"})


def shown(value: str | None, limit: int = 100) -> str:
    """A sender-chosen identifier for an error detail: quoted, printable ASCII, at most ``limit`` chars."""
    text = "".join(c if " " <= c <= "~" else "?" for c in (value or "")[: limit + 1])
    return repr(text if len(text) <= limit else text[:limit] + "...")


class XtaFault(GatewayError):
    """Base of the XTA errors: carries the XTA error number and the fault element.

    Concrete classes also derive from the gateway class that says how to treat them.
    """

    def __init__(self, detail: str, *, code: str | None = None, fault: str | None = None) -> None:
        if code:
            super().__init__(detail, xta_code=code)
        else:
            super().__init__(detail)
        self.code = code
        self.fault = fault


class XtaAccountUnusable(XtaFault, TransientError):
    slug = "xta-account-unusable"
    title = "The XTA account or client certificate cannot be used"


class XtaServerError(XtaFault, UpstreamUnavailable):
    slug = "xta-server-error"
    title = "The XTA server reported a technical problem"


class XtaServiceNotBooked(XtaFault, PermanentError):
    slug = "xta-service-not-booked"
    title = "The XTA account has not booked this service"


class XtaMessageIdUsed(XtaFault, PermanentError):
    slug = "xta-message-id-used"
    title = "The XTA MessageID has been used already"


class XtaUnknownMessage(XtaFault, PermanentError):
    slug = "xta-unknown-message"
    title = "The message is not (or no longer) in the XTA mailbox"


class XtaRequestRejected(XtaFault, PermanentError):
    slug = "xta-request-rejected"
    title = "The XTA server rejected the request"


class XtaSchemaViolation(XtaFault, InvalidPayload):
    slug = "xta-schema-violation"
    title = "The XTA server found the payload not schema-valid"


class XtaWrongEncoding(XtaFault, InvalidPayload):
    slug = "xta-wrong-encoding"
    title = "The XTA server found the payload wrongly encoded"


ErrorClass = type[XtaFault]

# code -> (exception element the code belongs to, description, error class; None: decided by the
# exception element). The descriptions are ours; the code list names them in German.
CODES: dict[str, tuple[str | None, str, ErrorClass | None]] = {
    "9000": (None, "unspecified error", None),
    "9010": ("PermissionDeniedException", "client certificate expired", XtaAccountUnusable),
    "9011": ("PermissionDeniedException", "account locked", XtaAccountUnusable),
    "9012": ("PermissionDeniedException", "no account for this identity", XtaAccountUnusable),
    "9013": ("PermissionDeniedException", "service not booked", XtaServiceNotBooked),
    "9014": ("PermissionDeniedException", "certificate does not match the account", XtaAccountUnusable),
    "9020": ("ParameterIsNotValidException", "no parameters", XtaRequestRejected),
    "9021": ("ParameterIsNotValidException", "not a valid URI", XtaRequestRejected),
    "9022": ("ParameterIsNotValidException", "invalid combination of parameters", XtaRequestRejected),
    "9023": ("ParameterIsNotValidException", "message exceeds the size limit", XtaRequestRejected),
    "9024": ("ParameterIsNotValidException", "MessageID already used", XtaMessageIdUsed),
    "9030": ("XTAWSTechnicalProblemException", "internal server error", XtaServerError),
    "9031": ("XTAWSTechnicalProblemException", "directory service error", XtaServerError),
    "9032": ("XTAWSTechnicalProblemException", "delivery error", XtaServerError),
    "9050": ("MessageSchemaViolationException", "payload not schema-valid", XtaSchemaViolation),
    "9051": ("MessageSchemaViolationException", "payload wrongly encoded", XtaWrongEncoding),
    "9052": ("MessageSchemaViolationException", "message violates the service profile", XtaRequestRejected),
    "9060": ("MessageVirusDetectionException", "malicious code found", XtaRequestRejected),
    "9070": ("InvalidMessageIDException", "MessageID unknown to the account", XtaUnknownMessage),
    "9080": ("SyncAsyncException", "service offered asynchronously only", XtaRequestRejected),
    "9081": ("SyncAsyncException", "service offered synchronously only", XtaRequestRejected),
    "9100": ("CancelDeniedException", "NotBefore time has passed", XtaRequestRejected),
    "9101": ("CancelDeniedException", "NotBefore was not set", XtaRequestRejected),
}

# Exception element -> error class, when the code does not decide.
FAULTS: dict[str, ErrorClass] = {
    "PermissionDeniedException": XtaAccountUnusable,
    "XTAWSTechnicalProblemException": XtaServerError,
    "InvalidMessageIDException": XtaUnknownMessage,
    "ParameterIsNotValidException": XtaRequestRejected,
    "MessageSchemaViolationException": XtaSchemaViolation,
    "MessageVirusDetectionException": XtaRequestRejected,
    "SyncAsyncException": XtaRequestRejected,
    "CancelDeniedException": XtaRequestRejected,
}


def error_for(operation: str, fault: str | None, code: str | None, soap_code: str | None) -> XtaFault:
    """The gateway error for an XTA SOAP fault answered to ``operation``."""
    code = code if code and _ERROR_NUMBER.match(code) else None  # an error number, never free text
    known = CODES.get(code or "")
    cls: ErrorClass
    if known and known[2] is not None:
        cls = known[2]
        what = f"XTA error {code} ({known[1]})"
    elif fault in FAULTS:
        cls = FAULTS[fault]
        what = f"XTA {fault}" + (f" with code {code}" if code else "")
    elif soap_code == "Sender":
        cls, what = XtaRequestRejected, "SOAP Sender fault"
    else:
        shown_code = soap_code if soap_code in _SOAP_CODES else "unknown"
        cls, what = XtaServerError, f"SOAP {shown_code} fault"
    return cls(f"{operation}: {what}", code=code, fault=fault)

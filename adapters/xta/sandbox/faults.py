"""SOAP 1.2 faults the sandbox answers with, and which action names it understands."""

from __future__ import annotations

from typing import Any

from adapters.xta.errors import CODE_LIST, CODES
from adapters.xta.ns import FAULT_ACTION, OPERATIONS, SOAP12_MEDIA_TYPE, WSA, WSA_FAULT_ACTION, XTA, q
from adapters.xta.sandbox.store import SandboxFault
from adapters.xta.soap import element, fault_envelope

# Besides the exact action URIs of the WSDL, the last path segment of an action and the operation
# name are matched case-insensitively, so clients generated from other editions of the WSDL still
# reach the right operation.
_ALIASES = {action.rsplit("/", 1)[-1].lower(): op for op, (_, action) in OPERATIONS.items()}
_ALIASES.update({op.lower(): op for op in OPERATIONS})
_EXACT = {action: op for op, (_, action) in OPERATIONS.items()}

_RECEIVER_FAULTS = {"XTAWSTechnicalProblemException"}

# Every XTA exception carries an error number; a fault raised without one gets the number that
# belongs to its exception, else 9000 ("unspecified").
DEFAULT_CODES = {
    "InvalidMessageIDException": "9070",
    "XTAWSTechnicalProblemException": "9030",
    "MessageSchemaViolationException": "9050",
    "MessageVirusDetectionException": "9060",
    "SyncAsyncException": "9080",
}
UNSPECIFIED = "9000"


def resolve_operation(action: str) -> str | None:
    return _EXACT.get(action) or _ALIASES.get(action.rstrip("/").rsplit("/", 1)[-1].lower())


def exception_detail(exception: str, code: str) -> Any:
    """``<xta:{exception}><xta:errorCode listURI=… listVersionID="1.0"><code/><name/></xta:errorCode>``."""
    name = CODES[code][1] if code in CODES else "error"
    error_code = element(q(XTA, "errorCode"), attrib={"listURI": CODE_LIST, "listVersionID": "1.0"},
                         children=[element("code", code), element("name", name)])
    return element(q(XTA, exception), children=[error_code])


def fault_response(fault: SandboxFault, relates_to: str | None, *, soap_code: str | None = None,
                   action: str = FAULT_ACTION) -> tuple[int, bytes, str]:
    """An XTA fault (``fault.code`` and/or ``fault.fault`` set) or a plain SOAP fault (neither).

    ``action``: the operation's action; the WSDL gives each XTA fault the action of its operation.
    """
    known = CODES.get(fault.code or "")
    exception = fault.fault or (known[0] if known else None)
    detail = None
    if exception:
        detail = exception_detail(exception, fault.code or DEFAULT_CODES.get(exception, UNSPECIFIED))
    code = soap_code or ("Receiver" if exception in _RECEIVER_FAULTS else "Sender")
    body = fault_envelope(soap_code=code, reason=fault.reason, relates_to=relates_to, detail=detail,
                          action=action if exception else FAULT_ACTION)
    return (500 if code == "Receiver" else 400), body, f"{SOAP12_MEDIA_TYPE}; charset=utf-8"


def wsa_fault(subcode: str, reason: str, relates_to: str | None, *, problem_header: str | None = None
              ) -> tuple[int, bytes, str]:
    """A WS-Addressing fault (SOAP 1.2 binding): Sender with a ``wsa:`` subcode."""
    detail = element(q(WSA, "ProblemHeaderQName"), problem_header) if problem_header else None
    body = fault_envelope(soap_code="Sender", subcode=f"wsa:{subcode}", reason=reason, relates_to=relates_to,
                          detail=detail, action=WSA_FAULT_ACTION)
    return 400, body, f"{SOAP12_MEDIA_TYPE}; charset=utf-8"

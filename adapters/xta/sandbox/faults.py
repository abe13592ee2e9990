"""SOAP 1.2 faults the sandbox answers with, and which action names it understands."""

from __future__ import annotations

from adapters.xta.errors import CODE_LIST, CODES
from adapters.xta.metadata import KeyCode
from adapters.xta.ns import OPERATIONS, SOAP12_MEDIA_TYPE, XTA, q
from adapters.xta.sandbox.store import SandboxFault
from adapters.xta.soap import element, fault_envelope

# Besides the exact action URIs of the WSDL, the last path segment of an action is matched
# case-insensitively, so clients generated from other editions of the WSDL still reach
# the right operation.
_ALIASES = {action.rsplit("/", 1)[-1].lower(): op for op, (_, action) in OPERATIONS.items()}
_ALIASES.update({op.lower(): op for op in OPERATIONS})
_EXACT = {action: op for op, (_, action) in OPERATIONS.items()}

_RECEIVER_FAULTS = {"XTAWSTechnicalProblemException"}


def resolve_operation(action: str) -> str | None:
    return _EXACT.get(action) or _ALIASES.get(action.rstrip("/").rsplit("/", 1)[-1].lower())


def fault_response(fault: SandboxFault, relates_to: str | None, *, soap_code: str | None = None
                   ) -> tuple[int, bytes, str]:
    element_name = CODES[fault.code][0] if fault.code in CODES else fault.fault
    detail = None
    if element_name:
        detail = element(q(XTA, element_name))
        if fault.code:
            name = CODES[fault.code][1] if fault.code in CODES else None
            detail.append(KeyCode(fault.code, CODE_LIST, "1.0", name).to_xml(q(XTA, "ErrorCode")))
    code = soap_code or ("Receiver" if element_name in _RECEIVER_FAULTS else "Sender")
    body = fault_envelope(soap_code=code, reason=fault.reason, relates_to=relates_to, detail=detail)
    return (500 if code == "Receiver" else 400), body, f"{SOAP12_MEDIA_TYPE}; charset=utf-8"


def wsa_fault(subcode: str, reason: str, relates_to: str | None, *, problem_header: str | None = None
              ) -> tuple[int, bytes, str]:
    """A WS-Addressing fault (SOAP 1.2 binding): Sender with a ``wsa:`` subcode."""
    detail = element(q("http://www.w3.org/2005/08/addressing", "ProblemHeaderQName"), problem_header) \
        if problem_header else None
    body = fault_envelope(soap_code="Sender", subcode=f"wsa:{subcode}", reason=reason, relates_to=relates_to,
                          detail=detail)
    return 400, body, f"{SOAP12_MEDIA_TYPE}; charset=utf-8"

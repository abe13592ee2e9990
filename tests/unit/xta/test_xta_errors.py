"""XTA error codes and faults become gateway errors of the right kind (retry or give up)."""

from __future__ import annotations

import pytest

from adapters.xta import samples
from adapters.xta.errors import (
    CODES,
    XtaAccountUnusable,
    XtaFault,
    XtaMessageIdUsed,
    XtaRequestRejected,
    XtaSchemaViolation,
    XtaServerError,
    XtaServiceNotBooked,
    XtaUnknownMessage,
    XtaWrongEncoding,
    error_for,
    shown,
)
from adapters.xta.testing import client_for, sandbox_http
from gateway.errors import InvalidPayload, PermanentError, TransientError, UpstreamUnavailable

EXPECTED: dict[str, tuple[type[XtaFault], type[Exception]]] = {
    "9010": (XtaAccountUnusable, TransientError),
    "9011": (XtaAccountUnusable, TransientError),
    "9012": (XtaAccountUnusable, TransientError),
    "9013": (XtaServiceNotBooked, PermanentError),
    "9014": (XtaAccountUnusable, TransientError),
    "9020": (XtaRequestRejected, PermanentError),
    "9021": (XtaRequestRejected, PermanentError),
    "9022": (XtaRequestRejected, PermanentError),
    "9023": (XtaRequestRejected, PermanentError),
    "9024": (XtaMessageIdUsed, PermanentError),
    "9030": (XtaServerError, UpstreamUnavailable),
    "9031": (XtaServerError, UpstreamUnavailable),
    "9032": (XtaServerError, UpstreamUnavailable),
    "9050": (XtaSchemaViolation, InvalidPayload),
    "9051": (XtaWrongEncoding, InvalidPayload),
    "9052": (XtaRequestRejected, PermanentError),
    "9060": (XtaRequestRejected, PermanentError),
    "9070": (XtaUnknownMessage, PermanentError),
    "9080": (XtaRequestRejected, PermanentError),
    "9081": (XtaRequestRejected, PermanentError),
    "9100": (XtaRequestRejected, PermanentError),
    "9101": (XtaRequestRejected, PermanentError),
}

# The exception each code belongs to in the code list urn:de:xta:webservice:codeliste:fehlernummer.
EXCEPTION_OF = {
    "901": "PermissionDeniedException", "902": "ParameterIsNotValidException",
    "903": "XTAWSTechnicalProblemException", "905": "MessageSchemaViolationException",
    "906": "MessageVirusDetectionException", "907": "InvalidMessageIDException", "908": "SyncAsyncException",
    "910": "CancelDeniedException",
}


def test_every_listed_code_is_mapped() -> None:
    assert set(CODES) == set(EXPECTED) | {"9000"}
    for code, (exception, _, _) in CODES.items():
        assert exception == EXCEPTION_OF.get(code[:3]), code


@pytest.mark.parametrize(("fault", "cls"), [
    ("PermissionDeniedException", XtaAccountUnusable), ("InvalidMessageIDException", XtaUnknownMessage),
    ("XTAWSTechnicalProblemException", XtaServerError), ("ParameterIsNotValidException", XtaRequestRejected),
])
def test_unspecified_9000_is_decided_by_the_exception(fault: str, cls: type[XtaFault]) -> None:
    error = error_for("close", fault, "9000", "Sender")
    assert type(error) is cls and error.code == "9000"


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_code_maps_to_class_and_kind(code: str) -> None:
    error = error_for("getStatusList", "SomethingElse", code, "Sender")
    cls, kind = EXPECTED[code]
    assert type(error) is cls and isinstance(error, kind)
    assert error.code == code and code in error.detail
    assert error.to_problem()["xta_code"] == code


@pytest.mark.parametrize(("fault", "cls"), [
    ("InvalidMessageIDException", XtaUnknownMessage), ("PermissionDeniedException", XtaAccountUnusable),
    ("XTAWSTechnicalProblemException", XtaServerError), ("ParameterIsNotValidException", XtaRequestRejected),
    ("MessageVirusDetectionException", XtaRequestRejected), ("SyncAsyncException", XtaRequestRejected),
    ("CancelDeniedException", XtaRequestRejected),
])
def test_fault_without_code_maps_by_its_element(fault: str, cls: type[XtaFault]) -> None:
    assert type(error_for("close", fault, None, "Sender")) is cls


def test_plain_soap_faults_map_by_their_code() -> None:
    assert type(error_for("close", None, None, "Sender")) is XtaRequestRejected
    assert type(error_for("close", None, None, "Receiver")) is XtaServerError
    assert type(error_for("close", None, None, None)) is XtaServerError


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_sandbox_fault_reaches_the_client_as_the_mapped_error(code: str) -> None:
    http, state = sandbox_http()
    client = client_for(samples.TOWN, http)
    state.fail_next("getStatusList", code)
    with pytest.raises(EXPECTED[code][0]) as caught:
        client.get_status_list()
    assert caught.value.code == code
    assert "injected" not in caught.value.detail  # the server's free text is never repeated
    client.get_status_list()  # the injected fault was used up


def test_server_chosen_text_in_codes_is_never_repeated() -> None:
    error = error_for("close", "ParameterIsNotValidException", "9999 Erika Mustermann", "Sender")
    assert error.code is None and "Mustermann" not in str(error.to_problem())
    error = error_for("close", None, None, "Frau Mustermann, Hauptstr. 1")
    assert type(error) is XtaServerError and "Mustermann" not in error.detail and "unknown" in error.detail


def test_shown_quotes_and_caps_sender_chosen_identifiers() -> None:
    assert shown("application/pdf") == "'application/pdf'"
    assert shown("a\x00b\nc\u00e9") == "'a?b?c?'"
    assert shown("x" * 500, limit=10) == "'xxxxxxxxxx...'"
    assert shown(None) == "''"

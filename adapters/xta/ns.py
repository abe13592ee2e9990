"""Namespaces, WS-Addressing actions and file locations of the XTA 2 Version 3 interface."""

from __future__ import annotations

from pathlib import Path

XTA = "http://xoev.de/transport/xta/211"
OSCIMETA = "http://www.osci.eu/ws/2014/10/transport"
OSCI = "http://www.osci.eu/ws/2008/05/transport"
WSA = "http://www.w3.org/2005/08/addressing"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
XOP = "http://www.w3.org/2004/08/xop/include"

NSMAP = {"env": SOAP12, "wsa": WSA, "xta": XTA, "oscimeta": OSCIMETA, "osci": OSCI, "xop": XOP}

ANONYMOUS = WSA + "/anonymous"
FAULT_ACTION = WSA + "/soap/fault"  # a SOAP fault without an action of its own
WSA_FAULT_ACTION = WSA + "/fault"  # the WS-Addressing faults (MessageAddressingHeaderRequired, ...)
SOAP12_MEDIA_TYPE = "application/soap+xml"

_XTA_ACTION = "http://www.xta.de/XTA/"
_MSGBOX_ACTION = OSCI + "/urn/messageTypes/"

# operation name -> (port, action). As in the published WSDL, the answer (and a fault) carries the
# same action as the request, and the action is also the soapAction. Two names differ from the
# operation name: createMessageId is "CreateMessageID", lookupService is "IsServiceAvailable".
OPERATIONS: dict[str, tuple[str, str]] = {
    "checkAccountActive": ("ManagementPort", _XTA_ACTION + "CheckAccountActive"),
    "createMessageId": ("ManagementPort", _XTA_ACTION + "CreateMessageID"),
    "getTransportReport": ("ManagementPort", _XTA_ACTION + "GetTransportReport"),
    "lookupService": ("ManagementPort", _XTA_ACTION + "IsServiceAvailable"),
    "sendMessage": ("SendXtaPort", _XTA_ACTION + "SendMessage"),
    "getStatusList": ("MsgBoxPort", _MSGBOX_ACTION + "MsgBoxStatusListRequest"),
    "getMessage": ("MsgBoxPort", _MSGBOX_ACTION + "MsgBoxFetchRequest"),
    "getNextStatusList": ("MsgBoxPort", _MSGBOX_ACTION + "MsgBoxGetNextListRequest"),
    "close": ("MsgBoxPort", _MSGBOX_ACTION + "MsgBoxCloseRequest"),
}

# MsgBoxResponse/NoMessageAvailable/@reason (OSCI Transport 2.02).
NO_MATCH = OSCI + "/MsgBox/reasons/NoMatch"
REQUEST_ID_INVALID = OSCI + "/MsgBox/reasons/RequestIdInvalid"

SERVICE_PATH = "/services/XTAService/"
MESSAGE_ID_PREFIX = "urn:de:xta:messageid:"

# The MessageType list in which the code is the payload's root element name and
# payloadSchema its namespace (the convention XFall/FIM messages use).
ELEMENT_NAME_LIST = "urn:de:payloadSchema:elementName"
BUSINESS_SCENARIO_LIST = "urn:de:xta:codeliste:business.scenario"

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = PROJECT_ROOT / "schemas" / "xta"


def q(ns: str, local: str) -> str:
    """Clark notation ``{ns}local`` as lxml uses it."""
    return "{" + ns + "}" + local

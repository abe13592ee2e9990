"""Configuration of the XTA adapter (``adapters: {xta: {...}}`` in the gateway settings)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from adapters.xta.ns import BUSINESS_SCENARIO_LIST, ELEMENT_NAME_LIST
from gateway.safexml import XmlLimits

# The XML message itself: at most 20 MiB (what the mappings take), 64 levels; the other caps
# are gateway.safexml's defaults. Attachments count against max_message_bytes only.
PAYLOAD_LIMITS: Final = XmlLimits(max_bytes=20 * 1024 * 1024, max_depth=64)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class TlsOptions(_Strict):
    """The municipality's client certificate (PEM files, relative to the gateway's base dir)."""

    cert: Path
    key: Path
    ca: Path | None = Field(None, description="CA bundle for the server certificate; system CAs if unset")


class FormatOptions(_Strict):
    """One XÖV payload format the channel accepts, keyed by its MessageType code."""

    xsd: str = Field(description="XSD relative to schemas_dir, validated before mapping")
    payload_schema: str = Field(description="namespace of the payload = MessageType/@payloadSchema")
    leika_xpath: str | None = Field(None, description="XPath (prefix p = payload namespace) to the LeiKa key")


_HEADER_LEIKA = "p:nachrichtenkopf/p:leistung/p:leikaSchluessel"

DEFAULT_FORMATS: dict[str, FormatOptions] = {
    "fim.S05000227.05000227001005": FormatOptions(
        xsd="xoev/xfall-fim-s05000227-1.5.xsd",
        payload_schema="urn:xoev-de:xfall:standard:fim-s05000227_1.5", leika_xpath=_HEADER_LEIKA),
    "gewerbe.anmeldung.0100": FormatOptions(
        xsd="xoev/gewerbeanzeige-anmeldung-1.0.xsd",
        payload_schema="urn:rathaus-gateway:xoev:gewerbeanzeige:1.0", leika_xpath=_HEADER_LEIKA),
}


class SenderOptions(_Strict):
    """How a forwarded case is labelled in its MessageMetaData."""

    service: str = "urn:rathaus-gateway:case:1"
    business_scenario: str = "RATHAUS_GATEWAY_CASE"
    message_type: str = "case.v1"
    message_type_list: str = ELEMENT_NAME_LIST
    payload_schema: str = "https://rathaus-gateway.de/schemas/case/case-v1.schema.json"


class AnswerOptions(_Strict):
    """How the answer to a message of one incoming format is labelled (its MessageMetaData).

    Neither XFall nor XGewerbeanzeige publishes an answer message (research notes §6): configure
    the type the receiving side expects — e.g. xdomea ``Geschaeftsgang.Geschaeftsgang.0201``
    (business scenario ``XDOMEAGAD_DATA``, payload schema ``urn:xoev-de:xdomea:schema:2.4.0``) —
    or the gateway's own demo answer (``DEMO_ANSWER``), which is no published XÖV message."""

    message_type: str = Field(min_length=1, max_length=200)
    message_type_list: str = ELEMENT_NAME_LIST
    message_type_version: str = "1.0"
    service: str = Field(min_length=1, max_length=500, description="Service URI the reader's account is booked for")
    business_scenario: str = Field(min_length=1, max_length=200)
    business_scenario_list: str = BUSINESS_SCENARIO_LIST
    payload_schema: str = Field(min_length=1, max_length=500)


# The gateway's own answer message (schemas/xoev/rathaus-antwort-1.0.xsd) - NOT a published XÖV
# message; for the sandbox and `make run`, and for partners who agree to take it.
DEMO_ANSWER = AnswerOptions(message_type="rathaus.antwort.0100", service="urn:rathaus-gateway:service:antwort:1.0",
                            business_scenario="RATHAUS_ANTWORT", payload_schema="urn:rathaus-gateway:xoev:antwort:1.0")


class XtaOptions(_Strict):
    server_url: str = Field(description="base URL of the XTA server, without /services/...")
    party: str = Field(pattern=r"^[A-Za-z0-9]+:[^\s]+$", description="the municipality's PartyIdentifier")
    party_name: str | None = None
    party_type: str = "xoev"
    tenant_ars: Annotated[str, Field(pattern=r"^\d{12}$")]
    tls: TlsOptions | None = None
    insecure_http: bool = Field(False, description="allow plain http (sandbox and tests only)")
    poll_interval_seconds: float = Field(60.0, ge=0)
    page_size: int = Field(100, ge=1, le=1000)
    refetch_after_seconds: float = Field(600.0, ge=0, description="fetch a still-open message again after")
    quarantine_then_close: bool = Field(True, description="close a quarantined message in the mailbox; "
                                        "false leaves it open (it is not taken in twice)")
    timeout_seconds: float = Field(60.0, gt=0)
    max_message_bytes: int = Field(256 * 1024 * 1024, gt=0, description="whole getMessage response")
    payload_limits: XmlLimits = Field(PAYLOAD_LIMITS, description="caps on the XML message "
                                      "(gateway.safexml.XmlLimits); each key given replaces its default")
    max_attachments: int = Field(100, ge=0)
    schemas_dir: Path = Path("schemas")
    formats: dict[str, FormatOptions] = Field(default_factory=lambda: dict(DEFAULT_FORMATS))
    sender: SenderOptions = SenderOptions()
    answers: dict[str, AnswerOptions] = Field(
        default_factory=dict, description="incoming MessageType code -> the answer sent back to its author (the "
        "xta reply channel); a format without an entry gets no answer over XTA (the catalog's next reply channel)")

    @field_validator("payload_limits", mode="before")
    @classmethod
    def _over_payload_defaults(cls, value: Any) -> Any:
        if isinstance(value, dict):
            unknown = set(value) - set(PAYLOAD_LIMITS.__dataclass_fields__)
            if unknown:
                raise ValueError(f"unknown payload_limits keys: {', '.join(sorted(map(str, unknown)))}")
            return PAYLOAD_LIMITS.replace(**value)
        return value

    @model_validator(mode="after")
    def _transport_is_secure(self) -> XtaOptions:
        if self.server_url.startswith("http://") and not self.insecure_http:
            raise ValueError("server_url uses plain http; XTA needs https with a client certificate "
                             "(set insecure_http: true only for the sandbox)")
        if not self.server_url.startswith(("http://", "https://")):
            raise ValueError("server_url must be an http(s) URL")
        if self.server_url.startswith("https://") and self.tls is None:
            raise ValueError("https needs tls.cert and tls.key (the municipality's client certificate)")
        return self

"""Decrypting and checking the content of a submission: metadata, data, attachments."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson

from adapters.fitconnect import jose
from adapters.fitconnect.keys import DestinationKeys
from adapters.fitconnect.options import Limits
from adapters.fitconnect.problems import problem
from adapters.fitconnect.schemas import DataSchemaRegistry, first_error
from gateway.case.model import Payment, ReplyChannel
from gateway.ports import VerifiedAttachment

LEIKA_URN = re.compile(r"^urn:de:fim:leika:leistung:(99\d{12})$")


@dataclass(frozen=True)
class Registries:
    """One JWE registry per kind of content, each with its own size caps."""

    metadata: jose.FitConnectJWERegistry
    data: jose.FitConnectJWERegistry
    attachment: jose.FitConnectJWERegistry

    @classmethod
    def from_limits(cls, limits: Limits) -> Registries:
        # base64url grows content by 4/3; the cap applies to the encoded ciphertext.
        def make(max_plain: int) -> jose.FitConnectJWERegistry:
            return jose.FitConnectJWERegistry(max_plain * 4 // 3 + 16, min(limits.max_inflated_bytes, max_plain))
        return cls(make(limits.max_metadata_bytes), make(limits.max_data_bytes), make(limits.max_attachment_bytes))


def decrypt(token: str | bytes, keys: DestinationKeys, registry: jose.FitConnectJWERegistry, instance: str) -> bytes:
    try:
        return jose.decrypt(token, keys.for_kid, registry)
    except jose.JoseFailure as exc:
        raise problem("encryption-issue", instance, f"cannot decrypt: {exc}") from None


def decrypt_json(token: str, keys: DestinationKeys, registry: jose.FitConnectJWERegistry, instance: str) -> Any:
    plain = decrypt(token, keys, registry, instance)
    try:
        return orjson.loads(plain)
    except orjson.JSONDecodeError:
        raise problem("syntax-violation", instance, f"{instance} is not valid JSON") from None


def _hash_matches(plain: bytes, spec: dict[str, Any]) -> str | None:
    """The content's SHA-512 (hex) if it equals the declared one, else None."""
    declared = spec.get("hash", {}).get("content", "")
    digest = hashlib.sha512(plain).hexdigest()
    return digest if hmac.compare_digest(digest.encode(), str(declared).encode()) else None


def check_attachment_list(described: list[dict[str, Any]], announced: list[str]) -> dict[str, dict[str, Any]]:
    by_id = {str(a["attachmentId"]): a for a in described}
    if len(by_id) != len(described) or set(by_id) != set(announced):
        raise problem("attachments-mismatch", "metadata",
                      "attachments in the metadata differ from the attachments of the submission")
    return by_id


def open_attachment(token: bytes, spec: dict[str, Any], keys: DestinationKeys,
                    registry: jose.FitConnectJWERegistry) -> VerifiedAttachment:
    aid = str(spec["attachmentId"])
    plain = decrypt(token, keys, registry, f"attachment:{aid}")
    digest = _hash_matches(plain, spec)
    if digest is None:
        raise problem("hash-mismatch", f"attachment:{aid}", "attachment hash differs from the metadata")
    return VerifiedAttachment(
        id=aid, filename=str(spec.get("filename") or aid), media_type=str(spec["mimeType"]), content=plain,
        purpose=str(spec["purpose"]), description=spec.get("description"),
        declared_sha512=str(spec["hash"]["content"]), sha512=digest,
    )


def open_data(token: str, spec: dict[str, Any], keys: DestinationKeys, registry: jose.FitConnectJWERegistry,
              schemas: DataSchemaRegistry) -> tuple[str, bytes]:
    """Decrypt, hash-check and schema-validate the data; return (schemaUri, plaintext)."""
    declared = spec["submissionSchema"]
    schema = schemas.get(str(declared["schemaUri"]))
    if schema is None or schema.mime_type != declared["mimeType"]:
        raise problem("unsupported-schema", "data", "the declared submission schema is not supported")
    plain = decrypt(token, keys, registry, "data")
    if _hash_matches(plain, spec) is None:
        raise problem("hash-mismatch", "data", "data hash differs from the metadata")
    try:
        document = orjson.loads(plain)
    except orjson.JSONDecodeError:
        raise problem("syntax-violation", "data", "data is not valid JSON") from None
    where = first_error(schema.validator, document)
    if where is not None:
        raise problem("schema-violation", "data", f"data violates its submission schema at {where}")
    return schema.uri, plain


def service_leika(metadata: dict[str, Any], submission: dict[str, Any], accepted: list[str]) -> str | None:
    """LeiKa key from publicServiceType; it must agree with the submission's serviceType."""
    declared = (metadata.get("publicServiceType") or {}).get("identifier")
    announced = (submission.get("serviceType") or {}).get("identifier")
    if declared is None:
        declared = announced
    elif announced is not None and announced != declared:
        raise problem("service-mismatch", "metadata", "publicServiceType differs from the submission's serviceType")
    match = LEIKA_URN.match(declared) if isinstance(declared, str) else None
    if match is None:
        raise problem("unsupported-service", "metadata", "the service is not identified by a LeiKa key")
    if accepted and match.group(1) not in accepted:
        raise problem("unsupported-service", "metadata", "this destination does not accept the service")
    return match.group(1)


# replyChannel member -> (our kind, the member that holds the address)
REPLY_CHANNELS = {"eMail": ("email", "address"), "deMail": ("demail", "address"), "fink": ("fink", "finkPostfachRef"),
                  "elster": ("elster", "accountId")}


def reply_channel(metadata: dict[str, Any]) -> ReplyChannel | None:
    """The one reply channel of the metadata, or None for none or one we do not know.

    The published schema allows exactly one member but does not forbid other member names
    (no ``additionalProperties: false``): a channel of a later schema version is not an error,
    the case just gets no electronic reply channel.
    """
    channel = metadata.get("replyChannel")
    if not isinstance(channel, dict) or len(channel) != 1:
        return None
    (name, value), = channel.items()
    known = REPLY_CHANNELS.get(name)
    if known is None or not isinstance(value, dict) or not isinstance(value.get(known[1]), str):
        return None
    return ReplyChannel(kind=known[0], address=value[known[1]])


def payment(metadata: dict[str, Any]) -> Payment | None:
    info = metadata.get("paymentInformation")
    if not info:
        return None
    amount = info.get("grossAmount")
    return Payment(method=info["paymentMethod"], status=info["status"],
                   amount=Decimal(str(amount)) if amount is not None else None,
                   transaction_id=info["transactionId"], reference=info["transactionReference"])

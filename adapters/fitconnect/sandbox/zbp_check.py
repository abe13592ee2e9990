"""What the sandbox's ZBP bridge checks in a submission before a citizen's postbox gets it.

In order: the metadata (decrypted, valid against its FIT-Connect schema, naming the ZBP data
schema); the data (decrypted, its SHA-512 equal to the metadata's) is the envelope with exactly
its four string members; the author certificate was issued by a trusted issuer (the BPKI's
stand-in), is within its dates and allows signatures; ``sha512sum`` is an RSASSA-PKCS1-v1_5
SHA-512 signature of the content's exact bytes by that certificate's key; the author token is an
RS512 JWT by the same key, not expired, for the certificate's CN with the role THIRD_PARTY; the
content is a message (``message_v6``) or a status (``status_v6``) valid against the derived
schema; every listed attachment is there once by file name, with the listed SHA-512 and length
(and the metadata's hash), and nothing unlisted was uploaded. Any failure is a
:class:`Rejected` with a problem for ``reject-submission``; the problem types of the real bridge
are not published: FIT-Connect's where they fit, ``zbp-...`` ones of our own otherwise.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from adapters.fitconnect import jose, zbp
from adapters.fitconnect.metadata import MetadataSchemas
from adapters.fitconnect.problems import PROBLEM_BASE, PROBLEMS
from adapters.fitconnect.schemas import first_error
from adapters.fitconnect.zbp_payload import PayloadSchema
from gateway.errors import PermanentError

OWN_PROBLEMS = {  # the sandbox's own names for what only the ZBP checks [D]
    "zbp-author-certificate-invalid": "Autorenzertifikat nicht vertrauenswürdig",
    "zbp-signature-invalid": "Signatur des Inhalts ungültig",
    "zbp-author-token-invalid": "Autorentoken ungültig",
    "zbp-mailbox-unknown": "Postfach unbekannt",
    "zbp-refused": "Vom Postfach abgelehnt",
}
KINDS = {zbp.MESSAGE_SERVICE: "message", zbp.STATUS_SERVICE: "status"}


class Rejected(Exception):
    def __init__(self, slug: str, detail: str, instance: str = "data") -> None:
        super().__init__(detail)
        self.slug, self.detail, self.instance = slug, detail, instance

    def problem(self) -> dict[str, str]:
        title = OWN_PROBLEMS.get(self.slug) or PROBLEMS[self.slug][0]
        return {"type": PROBLEM_BASE + self.slug, "title": title, "detail": self.detail, "instance": self.instance}


@dataclass(frozen=True)
class Delivered:
    """A verified postbox submission: the payload and the documents (name, media type, bytes)."""

    kind: str
    payload: dict[str, Any]
    files: list[tuple[str, str, bytes]] = field(default_factory=list)


class ZbpCheck:
    def __init__(self, keys: dict[str, RSAKey], issuers_pem: bytes, leeway_seconds: int = 60) -> None:
        self.keys, self.leeway = keys, leeway_seconds
        self.issuers = x509.load_pem_x509_certificates(issuers_pem)
        self.registry = jose.FitConnectJWERegistry(128 * 1024 * 1024, 64 * 1024 * 1024)
        self.metadata_schemas, self.payloads = MetadataSchemas(), PayloadSchema()

    def check(self, service: str, metadata_jwe: str, data_jwe: str, attachments: dict[str, str],
              now: dt.datetime | None = None) -> Delivered:
        now = now or dt.datetime.now(dt.UTC)
        metadata = self._json(self._decrypt(metadata_jwe, "metadata"), "metadata")
        try:
            self.metadata_schemas.validate(metadata)
        except PermanentError as exc:
            raise Rejected(str(exc.extensions.get("fitconnect_problem", {}).get("type", "schema-violation"))
                           .rsplit("/", 1)[-1], "metadata invalid", "metadata") from None
        data_spec = metadata["contentStructure"].get("data") or {}
        if data_spec.get("submissionSchema", {}).get("schemaUri") != zbp.SCHEMA_URI:
            raise Rejected("unsupported-schema", "the data is not a ZBP envelope", "metadata")
        data = self._decrypt(data_jwe, "data")
        if hashlib.sha512(data).hexdigest() != data_spec["hash"]["content"]:
            raise Rejected("hash-mismatch", "the data's SHA-512 differs from the metadata's")
        envelope = self._json(data, "data")
        if first_error(self.payloads.envelope, envelope) is not None:
            raise Rejected("schema-violation", "the envelope is not content, sha512sum, authorToken, authorCertificate")
        certificate = self._author_certificate(envelope["authorCertificate"], now)
        content = envelope["content"].encode("utf-8")
        public = certificate.public_key()
        assert isinstance(public, rsa.RSAPublicKey)  # checked in _author_certificate
        try:
            public.verify(base64.b64decode(envelope["sha512sum"], validate=True), content, padding.PKCS1v15(),
                          hashes.SHA512())
        except (InvalidSignature, binascii.Error, ValueError):
            raise Rejected("zbp-signature-invalid", "sha512sum is no signature of the content by the author") from None
        self._author_token(envelope["authorToken"], public, certificate, now)
        kind = KINDS.get(service)
        if kind is None:
            raise Rejected("unsupported-schema", "not a ZBP service", "submission")
        payload = self._json(content, "data")
        where = first_error(self.payloads.kinds[kind], payload)
        if where is not None:
            raise Rejected("schema-violation", f"the {kind} violates its schema at {where}")
        return Delivered(kind, payload, self._files(payload, metadata, attachments))

    def _decrypt(self, token: str, instance: str) -> bytes:
        try:
            return jose.decrypt(token, lambda kid: self.keys.get(kid) if isinstance(kid, str) else None,
                                self.registry)
        except jose.JoseFailure:
            raise Rejected("encryption-issue", f"{instance} cannot be decrypted", instance) from None

    @staticmethod
    def _json(raw: bytes, instance: str) -> dict[str, Any]:
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            raise Rejected("syntax-violation", f"{instance} is not a JSON object", instance)
        return value

    def _author_certificate(self, pem: str, now: dt.datetime) -> x509.Certificate:
        try:
            certificate = x509.load_pem_x509_certificate(pem.encode("ascii"))
            usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
        except (ValueError, UnicodeEncodeError, x509.ExtensionNotFound):
            raise Rejected("zbp-author-certificate-invalid", "authorCertificate is no usable certificate") from None
        public = certificate.public_key()
        trusted = [i for i in self.issuers if _issued_by(certificate, i)]
        if not trusted or not isinstance(public, rsa.RSAPublicKey) or public.key_size < zbp.MIN_AUTHOR_KEY_BITS \
                or not usage.digital_signature or not all(
                    c.not_valid_before_utc <= now <= c.not_valid_after_utc for c in (certificate, trusted[0])):
            raise Rejected("zbp-author-certificate-invalid", "the author certificate is not trusted for signing")
        return certificate

    def _author_token(self, token: str, public: rsa.RSAPublicKey, certificate: x509.Certificate,
                      now: dt.datetime) -> None:
        try:
            header = jose.set_header(token)
            if header.get("alg") != zbp.AUTHOR_TOKEN_ALG or header.get("typ", "JWT") != "JWT":
                raise ValueError("header")
            key = RSAKey.import_key(public.public_bytes(serialization.Encoding.PEM,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo))
            claims = orjson.loads(jws.deserialize_compact(token, key, algorithms=[zbp.AUTHOR_TOKEN_ALG]).payload)
            iat, exp, stamp = claims["iat"], claims["exp"], now.timestamp()
            names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            if not (isinstance(iat, int) and isinstance(exp, int) and iat - self.leeway <= stamp <= exp + self.leeway
                    and exp - iat <= zbp.TOKEN_LIFETIME_SECONDS and names and claims.get("signer") == names[0].value
                    and zbp.AUTHOR_ROLE in (claims.get("roles") or [])):
                raise ValueError("claims")
        except (jose.JoseFailure, JoseError, ValueError, TypeError, KeyError, AttributeError):
            raise Rejected("zbp-author-token-invalid", "the author token is invalid, expired or not the author's") \
                from None

    def _files(self, payload: dict[str, Any], metadata: dict[str, Any],
               uploaded: dict[str, str]) -> list[tuple[str, str, bytes]]:
        described = {a.get("filename"): a for a in metadata["contentStructure"].get("attachments", [])}
        listed = payload.get("attachments") or []
        if len(described) != len(metadata["contentStructure"].get("attachments", [])) or \
                {a["filename"] for a in listed} != set(described) or len(listed) != len(described) \
                or set(uploaded) != {a["attachmentId"] for a in described.values()}:
            raise Rejected("attachments-mismatch", "the listed documents and the uploaded attachments differ")
        files = []
        for entry in listed:
            spec = described[entry["filename"]]
            content = self._decrypt(uploaded[spec["attachmentId"]], f"attachment:{spec['attachmentId']}")
            digest = hashlib.sha512(content).hexdigest()
            if digest != entry["sha512sum"] or digest != spec["hash"]["content"] \
                    or len(content) != entry["contentLength"]:
                raise Rejected("hash-mismatch", "a document differs from its SHA-512 or length",
                               f"attachment:{spec['attachmentId']}")
            files.append((entry["filename"], str(spec["mimeType"]), content))
        return files


def _issued_by(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True

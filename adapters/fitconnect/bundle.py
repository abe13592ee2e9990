"""The raw original of one FIT-Connect submission, as the gateway keeps it in its inbox.

FIT-Connect spreads a submission over several resources (the submission document with the
encrypted metadata and data, one compact JWE per attachment, the case's event log). The
bundle keeps all response bodies byte for byte as fetched, still encrypted, so verification
can be repeated and audited later without asking the Zustelldienst again.

Layout: a one-line JSON index naming each part and its length, then the parts back to back.
Not one big JSON document on purpose: attachments are hundreds of KB of base64url that
would otherwise be parsed, copied into ``str`` and re-encoded on every verification (this
was the largest cost after RSA in the intake benchmark); here they are sliced out as bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import orjson

from adapters.fitconnect.problems import problem

MEDIA_TYPE = "application/vnd.rathaus-gateway.fitconnect-submission"
MAGIC = b"RGFC/1\n"
MISSING = -1


@dataclass
class Bundle:
    destination_id: str
    submission_id: str
    case_id: str
    submission_raw: bytes
    attachments: dict[str, bytes | None]  # None: announced but not retrievable (missing)
    events_raw: bytes
    fetched_at: str

    def to_bytes(self) -> bytes:
        parts: list[tuple[str, bytes | None]] = [("submission", self.submission_raw)]
        parts += [(f"attachment:{aid}", tok) for aid, tok in self.attachments.items()]
        parts.append(("eventLog", self.events_raw))
        index = {"destinationId": self.destination_id, "submissionId": self.submission_id,
                 "caseId": self.case_id, "fetchedAt": self.fetched_at,
                 "parts": [[name, MISSING if body is None else len(body)] for name, body in parts]}
        return b"".join([MAGIC, orjson.dumps(index), b"\n", *(body for _, body in parts if body is not None)])

    @classmethod
    def from_bytes(cls, raw: bytes) -> Bundle:
        try:
            if not raw.startswith(MAGIC):
                raise ValueError("unknown bundle format")
            end = raw.index(b"\n", len(MAGIC))
            index = orjson.loads(raw[len(MAGIC):end])
            offset, bodies = end + 1, dict[str, bytes | None]()
            for name, length in index["parts"]:
                if length == MISSING:
                    bodies[str(name)] = None
                    continue
                bodies[str(name)] = raw[offset: offset + int(length)]
                offset += int(length)
            if offset != len(raw):
                raise ValueError("bundle length mismatch")
            return cls(
                destination_id=str(index["destinationId"]), submission_id=str(index["submissionId"]),
                case_id=str(index["caseId"]), fetched_at=str(index["fetchedAt"]),
                submission_raw=bodies.pop("submission") or b"{}", events_raw=bodies.pop("eventLog") or b"{}",
                attachments={name.removeprefix("attachment:"): body for name, body in bodies.items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            raise problem("technical-error", "submission", "the stored submission bundle is unreadable") from None

    @cached_property
    def submission(self) -> dict[str, Any]:
        try:
            value = orjson.loads(self.submission_raw)
        except orjson.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            raise problem("syntax-violation", "submission", "the submission document is not a JSON object")
        return value

    @cached_property
    def event_log(self) -> list[str]:
        try:
            value = orjson.loads(self.events_raw)
        except orjson.JSONDecodeError:
            value = None
        log = value.get("eventLog") if isinstance(value, dict) else None
        return [str(token) for token in log] if isinstance(log, list) else []

    @property
    def encrypted_metadata(self) -> str | None:
        value = self.submission.get("encryptedMetadata")
        return value if isinstance(value, str) else None

    @property
    def encrypted_data(self) -> str | None:
        value = self.submission.get("encryptedData")
        return value if isinstance(value, str) else None

    @property
    def announced_attachments(self) -> list[str]:
        value = self.submission.get("attachments") or []
        return [str(a) for a in value] if isinstance(value, list) else []

    def fetched_attachments(self) -> dict[str, bytes]:
        return {aid: tok for aid, tok in self.attachments.items() if tok is not None}

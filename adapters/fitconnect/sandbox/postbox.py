"""The sandbox's citizen postbox (ZBP) behind its FIT-Connect bridge destination.

When a submission to the bridge destination is submitted, :meth:`Postbox.process` (a
background task of the submit request) checks it (:mod:`.zbp_check`), files a message in the
citizen's mailbox or a status update in the application status monitor, and decides it in the
event log: ``accept-submission`` or ``reject-submission`` with the problem, signed with the
bridge destination's key (``iss`` = its id), as a destination does. Afterwards the
submission's ciphertexts are dropped (FIT-Connect deletes a decided submission's content);
documents go to a spool folder (the pages offer them for download), everything else stays in
memory. Tests (and ``PUT /postbox/api/mailboxes/{id}/refusal``) can make it refuse a mailbox.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import tempfile
import threading
import uuid
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.fitconnect.events import build_set
from adapters.fitconnect.keys import OwnKey, jose_key
from adapters.fitconnect.pki import public_jwk
from adapters.fitconnect.sandbox.config import PostboxConfig
from adapters.fitconnect.sandbox.state import Sandbox, StoredSubmission
from adapters.fitconnect.sandbox.zbp_check import Delivered, Rejected, ZbpCheck


@dataclass
class FiledDocument:
    filename: str
    media_type: str
    size: int
    sha512: str
    path: Path = field(repr=False)


@dataclass
class FiledMessage:
    id: str
    mailbox: str
    received_at: str
    submission_id: str
    payload: dict[str, Any]
    documents: list[FiledDocument]

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "receivedAt": self.received_at, "submissionId": self.submission_id,
                **{k: v for k, v in self.payload.items() if k != "attachments"},
                "attachments": [{"filename": d.filename, "mimeType": d.media_type, "contentLength": d.size,
                                 "sha512sum": d.sha512} for d in self.documents]}


class Postbox:
    def __init__(self, sandbox: Sandbox, config: PostboxConfig) -> None:
        self.sandbox, self.config = sandbox, config
        self.destination_id = config.destination_id
        keys = {str(k["kid"]): jose_key(k) for k in config.decryption_keys}
        keys.update({key.thumbprint(): key for key in list(keys.values())})
        self.check = ZbpCheck(keys, config.author_issuers_pem, config.token_leeway_seconds)
        self.signing = OwnKey(kid=str(config.signing_key["kid"]), key=jose_key(config.signing_key),
                              public_jwk=public_jwk(config.signing_key))
        self.mailboxes: dict[str, list[FiledMessage]] = {m: [] for m in config.mailboxes or []}
        self.applications: dict[str, list[dict[str, Any]]] = {}  # the status monitor, by applicationId
        self.rejected: list[dict[str, Any]] = []  # submission id and problem of every refusal
        self.refusals: dict[str, str] = {}  # mailbox (or "*") -> detail of the refusal to answer
        self.lock = threading.RLock()
        self.spool = Path(tempfile.mkdtemp(prefix="zbp-postbox-sandbox-"))
        weakref.finalize(self, shutil.rmtree, self.spool, True)

    def refuse(self, mailbox: str, detail: str = "refused on request (TEST)") -> None:
        """Refuse every further message to ``mailbox`` (``*``: to every mailbox)."""
        with self.lock:
            self.refusals[mailbox] = detail

    def process(self, sub: StoredSubmission) -> None:
        """Check, file and decide a submission just submitted to the bridge (others: nothing)."""
        if sub.destination_id != self.destination_id or sub.status != "submitted" or not sub.encrypted_metadata:
            return
        try:
            delivered = self.check.check(str(sub.service_type.get("identifier")), sub.encrypted_metadata,
                                         sub.encrypted_data or "", dict(sub.attachments))
            self._file(sub, delivered)
        except Rejected as exc:
            self._decide(sub, "reject-submission", {"problems": [exc.problem()]})
            with self.lock:
                self.rejected.append({"submissionId": sub.submission_id, "problem": exc.problem()})
            return
        self._decide(sub, "accept-submission", {"authenticationTags": self.sandbox.tags(sub)})

    def _file(self, sub: StoredSubmission, delivered: Delivered) -> None:
        payload, now = delivered.payload, dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
        if delivered.kind == "status":
            with self.lock:
                self.applications.setdefault(payload["applicationId"], []).append(
                    {**payload, "receivedAt": now, "submissionId": sub.submission_id})
            return
        mailbox = payload["mailboxUuid"].lower()
        with self.lock:
            refusal = self.refusals.get(mailbox) or self.refusals.get("*")
            if refusal is not None:
                raise Rejected("zbp-refused", refusal)
            if self.config.mailboxes is not None and mailbox not in self.mailboxes:
                raise Rejected("zbp-mailbox-unknown", "no postbox has this mailbox UUID")
        message_id = str(uuid.uuid4())
        documents = []
        for index, (filename, media_type, content) in enumerate(delivered.files):
            path = self.spool / f"{message_id}-{index}"
            path.write_bytes(content)
            documents.append(FiledDocument(filename, media_type, len(content), _sha512(content), path))
        with self.lock:
            self.mailboxes.setdefault(mailbox, []).append(
                FiledMessage(message_id, mailbox, now, sub.submission_id, payload, documents))

    def _decide(self, sub: StoredSubmission, name: str, details: dict[str, Any]) -> None:
        token = build_set(name, self.destination_id, sub.submission_id, sub.case_id, details, self.signing)
        with self.sandbox.lock:
            if sub.status != "submitted":
                return
            sub.status = "accepted" if name == "accept-submission" else "rejected"
            self.sandbox.event_logs[sub.case_id].append(token)
            # FIT-Connect deletes a decided submission's content; 3,000 decisions must not pile up here
            for attachment_id in list(sub.attachments):
                sub.attachments[attachment_id] = ""
            sub.encrypted_metadata = sub.encrypted_data = ""

    # -- reading (pages, tests) -------------------------------------------------------------
    def messages(self, mailbox: str) -> list[FiledMessage]:
        with self.lock:
            return list(self.mailboxes.get(mailbox.lower(), []))

    def counts(self) -> dict[str, Any]:
        with self.lock:
            return {"mailboxes": {m: len(v) for m, v in sorted(self.mailboxes.items())},
                    "messages": sum(len(v) for v in self.mailboxes.values()),
                    "statusUpdates": sum(len(v) for v in self.applications.values()),
                    "rejected": len(self.rejected)}


def _sha512(content: bytes) -> str:
    return hashlib.sha512(content).hexdigest()

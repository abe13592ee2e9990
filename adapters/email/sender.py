"""The e-mail reply channel's one verb: mail a reply (compose, then hand it to the relay)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from adapters.email.compose import compose
from adapters.email.model import ReplyMail
from adapters.email.options import MailOptions
from adapters.email.smtp import SmtpRelay


@dataclass(frozen=True)
class MailDelivery:
    """What became of one reply. ``state`` "accepted": the relay took it (250 after DATA) - the
    last thing SMTP reports; delivery to the mailbox is not observable."""

    message_id: str
    state: Literal["accepted"]
    encrypted: bool
    documents: int
    tls: bool


class MailReplySender:
    def __init__(self, options: MailOptions, base_dir: Path | None = None, relay: SmtpRelay | None = None) -> None:
        self.options = options
        self.relay = relay or SmtpRelay(options.relay, base_dir)

    def send(self, reply: ReplyMail, now: datetime | None = None) -> MailDelivery:
        """Mails ``reply``. A retry of the same reply id sends the same Message-ID."""
        mail = compose(reply, self.options, now)
        receipt = self.relay.send(mail)
        return MailDelivery(message_id=mail.message_id, state="accepted", encrypted=mail.encrypted,
                            documents=mail.documents, tls=receipt.tls)

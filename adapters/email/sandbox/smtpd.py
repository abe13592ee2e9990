"""The SMTP listener of the sandbox (aiosmtpd): STARTTLS required, AUTH if configured, faults on
request, every accepted mail into the :class:`MailStore`."""

from __future__ import annotations

import hmac
import logging
import ssl
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from adapters.email.sandbox.config import SandboxConfig
from adapters.email.sandbox.store import MailStore


class Handler:
    def __init__(self, store: MailStore) -> None:
        self.store = store

    def _fault(self, stage: str, recipients: list[str]) -> str | None:
        fault = self.store.take_fault(stage, recipients)
        return f"{fault.code} {fault.text}" if fault else None

    async def handle_MAIL(  # noqa: N802 - aiosmtpd's hook name
            self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        refused = self._fault("MAIL", [])
        if refused:
            return refused
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
            self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        refused = self._fault("RCPT", [address])
        if refused:
            return refused
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
            self, server: SMTP, session: Session, envelope: Envelope) -> str:
        refused = self._fault("DATA", list(envelope.rcpt_tos))
        if refused:
            return refused
        raw = envelope.original_content or b""
        user = None
        if session.authenticated and isinstance(session.auth_data, LoginPassword):
            user = session.auth_data.login.decode("utf-8", "replace")
        mail = self.store.add(envelope.mail_from or "", list(envelope.rcpt_tos), raw, session.ssl is not None, user)
        return f"250 Message accepted for delivery (sandbox id {mail.id})"


class Authenticator:
    def __init__(self, username: str, password: str) -> None:
        self._username = username.encode()
        self._password = password.encode()

    def __call__(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
                 ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        ok = hmac.compare_digest(auth_data.login, self._username) & hmac.compare_digest(auth_data.password,
                                                                                        self._password)
        return AuthResult(success=bool(ok), handled=False, auth_data=auth_data if ok else None)


class SmtpListener:
    """Starts and stops the aiosmtpd controller (its own thread and event loop)."""

    def __init__(self, config: SandboxConfig, store: MailStore) -> None:
        self.config = config
        self.store = store
        self._controller: Controller | None = None

    def start(self) -> None:
        # aiosmtpd logs every command at INFO, envelope addresses included: in `make run` the
        # applicants' e-mail addresses would land in the gateway's log
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        cfg = self.config
        context = None
        if cfg.starttls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(cfg.cert_file), str(cfg.key_file))
        auth = Authenticator(cfg.username, cfg.password) if cfg.username and cfg.password else None
        self._controller = Controller(
            Handler(self.store), hostname=cfg.smtp_host, port=cfg.smtp_port, ready_timeout=15,
            server_hostname="localhost", tls_context=context, require_starttls=cfg.starttls,
            authenticator=auth, auth_required=auth is not None, auth_require_tls=cfg.starttls,
            data_size_limit=cfg.max_message_bytes, ident="Rathaus-Gateway SMTP sandbox (TEST ONLY)")
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

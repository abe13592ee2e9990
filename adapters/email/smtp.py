"""The SMTP client: STARTTLS to the configured relay, AUTH if configured, one mail per session.

stdlib ``smtplib`` rather than aiosmtplib: the gateway's ports and worker are synchronous
(threads), smtplib blocks like them, needs no event loop per delivery, is maintained with
CPython, verifies the relay certificate and host name through the given ``SSLContext``, and
applies ``timeout`` to the connect and to every exchange. The reply of each stage (MAIL, RCPT,
DATA) is read separately so an error says where it happened.
"""

from __future__ import annotations

import smtplib
import ssl
from pathlib import Path

from adapters.email.errors import MailRelayUnavailable, MailRelayUnusable, error_for_reply
from adapters.email.model import OutgoingMail, SmtpReceipt
from adapters.email.options import RelayOptions


def tls_context(options: RelayOptions, base_dir: Path | None = None) -> ssl.SSLContext:
    cafile = None
    if options.ca_file is not None:
        cafile = options.ca_file if options.ca_file.is_absolute() or base_dir is None else base_dir / options.ca_file
    context = ssl.create_default_context(cafile=str(cafile) if cafile else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context  # check_hostname and CERT_REQUIRED are the defaults of create_default_context


class SmtpRelay:
    def __init__(self, options: RelayOptions, base_dir: Path | None = None) -> None:
        self.options = options
        self._context = tls_context(options, base_dir) if options.tls == "starttls" else None

    def send(self, mail: OutgoingMail) -> SmtpReceipt:
        """Hands ``mail`` to the relay; raises the errors of :mod:`adapters.email.errors`."""
        opts = self.options
        try:
            with smtplib.SMTP(opts.host, opts.port, local_hostname=opts.local_hostname,
                              timeout=opts.timeout_seconds) as smtp:
                self._hello(smtp)
                if self._context is not None:
                    if not smtp.has_extn("starttls"):
                        raise MailRelayUnusable("the relay does not offer STARTTLS; mail is never sent in clear")
                    code, _ = smtp.starttls(context=self._context)
                    if code != 220:
                        raise error_for_reply("STARTTLS", code)
                    self._hello(smtp)
                if opts.username is not None and opts.password is not None:
                    self._login(smtp, opts.username, opts.password.get_secret_value())
                code, _ = smtp.mail(mail.mail_from)
                self._expect(code, "MAIL")
                code, _ = smtp.rcpt(mail.rcpt_to)
                self._expect(code, "RCPT")
                code, _ = smtp.data(mail.data)
                self._expect(code, "DATA")
                return SmtpReceipt(message_id=mail.message_id, code=code, tls=self._context is not None)
        except ssl.SSLCertVerificationError:
            raise MailRelayUnusable("the relay's certificate is not trusted for its host name") from None
        except ssl.SSLError as exc:
            raise MailRelayUnusable(f"TLS with the relay failed ({type(exc).__name__})") from None
        except smtplib.SMTPNotSupportedError:
            raise MailRelayUnusable("the relay does not support a required SMTP extension") from None
        except smtplib.SMTPResponseException as exc:  # HELO/EHLO, STARTTLS, AUTH and others with a code
            raise error_for_reply("session", exc.smtp_code) from None
        except smtplib.SMTPServerDisconnected as exc:
            if isinstance(exc.__context__, TimeoutError):  # smtplib reports a read timeout as a disconnect
                raise MailRelayUnavailable(f"no answer from the relay within {opts.timeout_seconds} s") from None
            raise MailRelayUnavailable("the relay closed the connection") from None
        except TimeoutError:
            raise MailRelayUnavailable(f"no answer from the relay within {opts.timeout_seconds} s") from None
        except OSError as exc:
            raise MailRelayUnavailable(f"cannot reach the relay ({type(exc).__name__})") from None

    @staticmethod
    def _hello(smtp: smtplib.SMTP) -> None:
        code, _ = smtp.ehlo()
        if code != 250:
            raise error_for_reply("EHLO", code)

    @staticmethod
    def _login(smtp: smtplib.SMTP, username: str, password: str) -> None:
        try:
            smtp.login(username, password)
        except smtplib.SMTPAuthenticationError as exc:
            # 454 is "temporary authentication failure" (RFC 4954); everything else needs an admin.
            if exc.smtp_code == 454:
                raise MailRelayUnavailable("relay answered 454 to AUTH", smtp_code=454, smtp_stage="AUTH") from None
            raise MailRelayUnusable(f"relay refused the credentials ({exc.smtp_code})", smtp_code=exc.smtp_code,
                                    smtp_stage="AUTH") from None

    @staticmethod
    def _expect(code: int, stage: str) -> None:
        if not 200 <= code < 300:
            raise error_for_reply(stage, code)

"""Configuration of the SMTP sandbox; ``config_from_env()`` is what ``make run`` uses."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

TLS_DIR = Path(__file__).resolve().parents[3] / "fixtures" / "email" / "tls"  # TEST ONLY certificate


@dataclass(frozen=True)
class SandboxConfig:
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    mail_dir: Path | None = None  # also keep every mail as <id>.eml here
    username: str | None = None  # set both to require AUTH (after STARTTLS)
    password: str | None = None
    starttls: bool = True  # False: offer no STARTTLS at all (to test that the client refuses)
    max_message_bytes: int = 32 * 1024 * 1024
    max_messages: int = 10_000  # in memory; the oldest are dropped beyond
    cert_file: Path = TLS_DIR / "server.pem"
    key_file: Path = TLS_DIR / "server.key"

    def __post_init__(self) -> None:
        if not ipaddress.ip_address(self.smtp_host).is_loopback:
            raise ValueError("the SMTP sandbox binds loopback addresses only")
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")


def config_from_env() -> SandboxConfig:
    env = os.environ
    mail_dir = env.get("EMAIL_SANDBOX_MAIL_DIR")
    return SandboxConfig(
        smtp_host=env.get("EMAIL_SANDBOX_SMTP_HOST", "127.0.0.1"),
        smtp_port=int(env.get("EMAIL_SANDBOX_SMTP_PORT", "8025")),
        mail_dir=Path(mail_dir) if mail_dir else None,
        username=env.get("EMAIL_SANDBOX_USERNAME") or None,
        password=env.get("EMAIL_SANDBOX_PASSWORD") or None,
    )

"""Helpers for the e-mail adapter's tests and demos: the TEST ONLY keys and certificates of
``fixtures/email``, a sender identity and options pointing at a local sandbox. TEST DATA."""

from __future__ import annotations

from pathlib import Path

from adapters.email.model import MailDocument, ReplyKind, ReplyMail
from adapters.email.options import MailOptions

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "email"
PGP = FIXTURES / "pgp"
TEST_CA = FIXTURES / "tls" / "ca.pem"
SANDBOX_USER, SANDBOX_PASSWORD = "rathaus-gateway", "sandbox-smtp-password-0123456789"  # TEST ONLY


def key(name: str) -> str:
    """An armored key of fixtures/email/pgp, e.g. ``key("citizen-rsa3072.pub")``."""
    return (PGP / f"{name}.asc").read_text(encoding="ascii")


def options(port: int, *, ca: Path = TEST_CA, auth: bool = True, **overrides: object) -> MailOptions:
    relay: dict[str, object] = {"host": "127.0.0.1", "port": port, "ca_file": str(ca), "timeout_seconds": 5}
    if auth:
        relay.update(username=SANDBOX_USER, password=SANDBOX_PASSWORD)
    values: dict[str, object] = {
        "relay": relay,
        "sender": {"authority_name": "Stadt Tangerhütte", "from_address": "bescheide@tangerhuette.example",
                   "message_id_domain": "gateway.tangerhuette.example",
                   "fetch_url_template": "https://portal.tangerhuette.example/postfach?vorgang={reference}"},
        **overrides,
    }
    return MailOptions.model_validate(values)


def sample_pdf(label: str) -> bytes:
    """A tiny (not printable) PDF-looking document carrying ``label``, enough for mail tests."""
    return b"%PDF-1.4\n% TEST ONLY " + label.encode() + b"\n%%EOF\n"


def reply(reply_id: str = "7d1c1a52-0b3f-4f7e-9d55-2c6f1b0f8a01", *, key_name: str | None = None,
          to: str = "erika.mustermann@example.org") -> ReplyMail:
    """A decision for the fictitious Erika Mustermann with two documents (TEST DATA)."""
    return ReplyMail(
        reply_id=reply_id, reference="TGH-2026-000123", kind=ReplyKind.DECISION, to=to,
        title="Hundesteuerbescheid für Erika Mustermann, Heidestraße 17",
        text="Sehr geehrte Frau Mustermann,\nfür Ihren Hund Bello setzen wir die Steuer auf 60 Euro fest.",
        documents=(MailDocument("Bescheid-Hundesteuer.pdf", sample_pdf("Bescheid Erika Mustermann")),
                   MailDocument("Anlage.pdf", sample_pdf("Anlage Heidestrasse 17"))),
        pgp_public_key=key(key_name) if key_name else None)

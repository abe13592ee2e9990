"""E-mail reply errors, mapped onto the gateway's hierarchy (``gateway/errors.py``).

::

    TransientError
    ├── MailRelayUnusable      the relay cannot be used as configured: no STARTTLS, certificate not
    │                          trusted, AUTH refused (530/534/535/538), TLS handshake failed.
    │                          An admin must act; the reply itself is fine, so it is never failed for it.
    └── UpstreamUnavailable
        └── MailRelayUnavailable   connection refused or reset, timeout, disconnect, any 4xx reply
    PermanentError
    ├── MailRejected           a 5xx reply to MAIL FROM, RCPT TO or DATA (other than the codes above)
    ├── RecipientKeyUnusable   the applicant's OpenPGP key fails validation (parse, algorithm, size,
    │                          expiry, revocation, no encryption subkey, secret key material)
    └── InvalidPayload
        └── InvalidReplyMail   the reply cannot become a mail (address, reference, document, size)

Details never quote the relay's free text (it may echo the recipient address) nor key material:
only the SMTP stage and the reply code, or our own wording.
"""

from __future__ import annotations

from gateway.errors import InvalidPayload, PermanentError, TransientError, UpstreamUnavailable


class MailRelayUnusable(TransientError):
    slug = "mail-relay-unusable"
    title = "The mail relay cannot be used as configured"


class MailRelayUnavailable(UpstreamUnavailable):
    slug = "mail-relay-unavailable"
    title = "The mail relay is not reachable or deferred the message"


class MailRejected(PermanentError):
    slug = "mail-rejected"
    title = "The mail relay rejected the message"


class RecipientKeyUnusable(PermanentError):
    slug = "recipient-key-unusable"
    title = "The applicant's OpenPGP key cannot be used"


class InvalidReplyMail(InvalidPayload):
    slug = "invalid-reply-mail"
    title = "The reply cannot be sent as e-mail"


# Reply codes that say "this relay needs other credentials or TLS", not "this message is bad"
# (RFC 4954: 530 authentication required, 534 mechanism too weak, 535 credentials invalid,
# 538 encryption required; RFC 3207: 530 "Must issue a STARTTLS command first").
RELAY_POLICY_CODES = frozenset({530, 534, 535, 538})


def error_for_reply(stage: str, code: int) -> MailRelayUnusable | MailRelayUnavailable | MailRejected:
    """The error for an SMTP reply ``code`` that refused ``stage`` (``MAIL``, ``RCPT``, ``DATA``, ...)."""
    what = f"relay answered {code} to {stage}"
    if code in RELAY_POLICY_CODES:
        return MailRelayUnusable(what, smtp_code=code, smtp_stage=stage)
    if 400 <= code < 500:
        return MailRelayUnavailable(what, smtp_code=code, smtp_stage=stage)
    if 500 <= code < 600:
        return MailRejected(what, smtp_code=code, smtp_stage=stage)
    # Not an error class the RFC defines (e.g. a broken relay answering 3xx or garbage): retry.
    return MailRelayUnavailable(f"relay gave an unexpected reply {code} to {stage}", smtp_code=code,
                                smtp_stage=stage)

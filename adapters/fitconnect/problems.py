"""FIT-Connect problems for ``reject-submission`` events, tied to the gateway's errors.

Every permanent failure the channel detects is raised as a gateway error that carries the
FIT-Connect problem in ``extensions["fitconnect_problem"]``; ``reject`` posts exactly that
problem. Errors raised later by the core (unknown service in the catalog, mapping failed)
carry none and are translated by :func:`problem_for`. Details are fixed texts: they end up
in the sender's event log and must never contain personal data.
"""

from __future__ import annotations

from typing import Any

from gateway.errors import (
    ChannelNotAllowed,
    InvalidPayload,
    MappingFailed,
    PermanentError,
    Problem,
    UnknownService,
    UnsupportedFormat,
    VerificationFailed,
)

PROBLEM_BASE = "https://schema.fitko.de/fit-connect/events/problems/"

# slug -> (title, gateway error class). Titles as the FIT-Connect documentation words them.
PROBLEMS: dict[str, tuple[str, type[PermanentError]]] = {
    "encryption-issue": ("Entschlüsselungs-Fehler", VerificationFailed),
    "syntax-violation": ("Syntax-Fehler", InvalidPayload),
    "schema-violation": ("Schema-Fehler", InvalidPayload),
    "unsupported-schema": ("Nicht unterstütztes Schema", UnsupportedFormat),
    "hash-mismatch": ("Prüfsumme stimmt nicht", VerificationFailed),
    "missing-data": ("Fachdaten fehlen", InvalidPayload),
    "missing-attachment": ("Anlage fehlt", InvalidPayload),
    "attachments-mismatch": ("Anlagen-Liste inkonsistent", InvalidPayload),
    "incorrect-authentication-tag": ("Authentication-Tag ungültig", VerificationFailed),
    "invalid-event-log": ("Inkonsistentes Ereignisprotokoll", VerificationFailed),
    "service-mismatch": ("Verwaltungsleistung stimmt nicht überein", UnknownService),
    "unsupported-service": ("Verwaltungsleistung nicht unterstützt", UnknownService),
    "technical-error": ("Technischer Fehler", PermanentError),
}


def problem(slug: str, instance: str, detail: str) -> PermanentError:
    """The gateway error for a FIT-Connect problem; ``instance`` is metadata|data|attachment:<id>."""
    title, error_cls = PROBLEMS[slug]
    return error_cls(
        detail,
        fitconnect_problem={"type": PROBLEM_BASE + slug, "title": title, "detail": detail, "instance": instance},
    )


def problem_for(recorded: Problem) -> dict[str, Any]:
    """The FIT-Connect problem to report for any recorded permanent error (ours or the core's)."""
    carried = recorded.extensions.get("fitconnect_problem")
    if isinstance(carried, dict) and str(carried.get("type", "")).startswith(PROBLEM_BASE):
        return dict(carried)
    if recorded.is_a(UnknownService) or recorded.is_a(ChannelNotAllowed):
        slug, instance = "unsupported-service", "metadata"
    elif recorded.is_a(UnsupportedFormat):
        slug, instance = "unsupported-schema", "data"
    elif recorded.is_a(MappingFailed) or recorded.is_a(InvalidPayload):
        slug, instance = "schema-violation", "data"
    else:
        slug, instance = "technical-error", "submission"
    title = PROBLEMS[slug][0]
    # The core's detail text is designed to be free of personal data (gateway.errors).
    return {"type": PROBLEM_BASE + slug, "title": title, "detail": recorded.detail[:500], "instance": instance}

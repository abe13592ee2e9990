"""Pages: one Jinja2 environment (autoescaping always on, undefined names are errors), the
console's Content-Security-Policy (no script at all, styles from the console's own file) and
the error page every refusal renders.

All output is escaped by Jinja2; nothing is marked safe. Dates are shown in German local time.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

HERE = Path(__file__).resolve().parent
PREFIX = "/console"
# No script-src: the console runs no JavaScript (progressive enhancement is plain HTML forms).
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
# Referrers stay within the console (its URLs carry no personal data); with "no-referrer" a browser
# would also send "Origin: null" with every form, and the same-origin check of forms needs the origin.
REFERRER_POLICY = "same-origin"
LOCAL = ZoneInfo("Europe/Berlin")

STATE_LABELS = {
    "received": "eingegangen", "retry": "erneuter Versuch geplant", "committed": "als Fall angelegt",
    "acknowledged": "angelegt und der Quelle bestätigt", "quarantined": "in Quarantäne", "dead": "unzustellbar",
    "discarded": "verworfen", "pending": "ausstehend", "done": "zugestellt",
}


def local_time(value: dt.datetime | None) -> str:
    if value is None:
        return "–"
    return value.astimezone(LOCAL).strftime("%d.%m.%Y %H:%M:%S")


def iso(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).isoformat() if value is not None else ""


NAVIGATION = (("uebersicht", "/", "Übersicht"), ("faelle", "/faelle", "Fallsuche"),
              ("quarantaene", "/quarantaene", "Quarantäne und Unzustellbares"),
              ("antworten", "/antworten", "Antworten"), ("katalog", "/katalog", "Katalog"),
              ("ereignisse", "/ereignisse", "Ereignisse"))
ADAPTER_STATES = {"ok": "in Ordnung", "degraded": "beeinträchtigt", "down": "gestört", "unknown": "unbekannt"}
CIRCUITS = {"closed": "geschlossen (Aufrufe laufen)", "open": "offen (Aufrufe ruhen)",
            "half_open": "halb offen (Probeaufruf)"}
ADAPTER_KINDS = {"channel": "Eingangskanal", "sender": "Weiterleitung", "reply_channel": "Antwortkanal",
                 "webhook": "Webhook (Fachverfahren)"}


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["zeit"] = local_time
    env.filters["iso"] = iso
    env.filters["zustand"] = lambda state: STATE_LABELS.get(state, state)
    env.filters["adapterzustand"] = lambda state: ADAPTER_STATES.get(state, state)
    env.filters["adapterart"] = lambda kind: ADAPTER_KINDS.get(kind, kind)
    env.filters["schutzschalter"] = lambda circuit: CIRCUITS.get(circuit, circuit)
    env.globals["prefix"] = PREFIX
    env.globals["navigation"] = NAVIGATION
    return env


_ENV = _environment()


def page(template: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    body = _ENV.get_template(template).render(**context)
    return HTMLResponse(body, status_code=status, headers={"Content-Security-Policy": CSP,
                                                           "Referrer-Policy": REFERRER_POLICY, **(headers or {})})


class ConsoleRefusal(Exception):
    """A request the console refuses with a page of its own (not a problem+json answer)."""

    def __init__(self, status: int, title: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(title)
        self.status, self.title, self.message, self.headers = status, title, message, headers or {}


class LoginRequired(Exception):
    """No (live) session: the browser is sent to the login form."""

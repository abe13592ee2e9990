"""Quarantine and dead letters in the console: reasons, originals (permission, audit, escaping),
replay and discard with confirmation, CSRF refusals, and each admin limited to their municipalities."""

from __future__ import annotations

import datetime as dt
import time

from sqlalchemy import select

from gateway.bootstrap import Gateway
from gateway.retention import Retention
from gateway.store import tables
from tests.conftest import OTHER_TENANT
from tests.integration.conftest import portal_message
from tests.integration.console.conftest import (
    BreakableChannel,
    ConsoleClient,
    form_with_action,
    inbox_state,
    pull_message,
    quarantined,
    text_of,
)


def _work(gateway: Gateway, rounds: int = 6) -> None:
    for _ in range(rounds):  # retries are due after the test-sized backoff
        gateway.worker.run_until_idle()
        time.sleep(0.06)


def _confirm(console: ConsoleClient, path: str, **fields: str) -> object:
    form = form_with_action(console.http.get(path).text, path)
    return console.http.post(path, data={**form["fields"], **fields}, follow_redirects=False)


def test_a_quarantined_message_is_listed_with_its_reason(console: ConsoleClient, channel: BreakableChannel) -> None:
    inbox_id = quarantined(console.gateway, channel)
    console.login("sachbearbeitung")
    listing = console.http.get("/console/quarantaene")
    assert f'id="eingang-{inbox_id}"' in listing.text and "Invalid payload" in listing.text
    detail = text_of(console.http.get(f"/console/eingang/{inbox_id}").text)
    assert "in Quarantäne" in detail and "the sender's format is not configured" in detail
    assert "Erneut verarbeiten" in detail and "Verwerfen" in detail


def test_replay_after_the_cause_is_fixed_makes_the_case(console: ConsoleClient, channel: BreakableChannel) -> None:
    inbox_id = quarantined(console.gateway, channel)
    console.login("sachbearbeitung")
    confirmation = console.http.get(f"/console/eingang/{inbox_id}/wiederholen")
    assert "Erneut verarbeiten?" in confirmation.text and inbox_state(console.gateway, inbox_id) == "quarantined"
    done = _confirm(console, f"/console/eingang/{inbox_id}/wiederholen")
    assert done.status_code == 303  # type: ignore[attr-defined]
    assert done.headers["location"] == f"/console/eingang/{inbox_id}?erledigt=wiederholt"  # type: ignore[attr-defined]
    _work(console.gateway)
    assert inbox_state(console.gateway, inbox_id) == "acknowledged"
    detail = console.http.get(f"/console/eingang/{inbox_id}").text
    reference = console.gateway.pipeline.outcome(inbox_id).case.reference  # type: ignore[union-attr]
    assert f"?aktenzeichen={reference}" in detail
    replays = console.audit("replayed")
    assert [(r["actor"], r["inbox_id"]) for r in replays] == [("console:sachbearbeitung", inbox_id)]
    found = console.http.get("/console/faelle", params={"aktenzeichen": reference})
    assert reference in found.text and "Keine Fälle gefunden" not in found.text


def test_discard_needs_a_reason_and_keeps_the_message(console: ConsoleClient, channel: BreakableChannel) -> None:
    inbox_id = quarantined(console.gateway, channel)
    console.login("sachbearbeitung")
    without = _confirm(console, f"/console/eingang/{inbox_id}/verwerfen", grund="")
    assert without.status_code == 400 and inbox_state(console.gateway, inbox_id) == "quarantined"  # type: ignore[attr-defined]
    done = _confirm(console, f"/console/eingang/{inbox_id}/verwerfen", grund="test")
    assert done.status_code == 303  # type: ignore[attr-defined]
    assert inbox_state(console.gateway, inbox_id) == "discarded"
    assert console.gateway.pipeline.replay(inbox_id, "cli") is False  # never offered for replay again
    assert f'id="eingang-{inbox_id}"' not in console.http.get("/console/quarantaene").text
    assert "Erneut verarbeiten" not in console.http.get(f"/console/eingang/{inbox_id}").text
    again = console.http.get(f"/console/eingang/{inbox_id}/wiederholen")
    assert again.status_code == 409
    [entry] = console.audit("discarded")
    assert entry["actor"] == "console:sachbearbeitung" and entry["details"] == {"previous_state": "quarantined",
                                                                                 "reason": "test"}
    with console.gateway.db.reading() as conn:
        kept = conn.execute(select(tables.inbox.c.raw_key).where(tables.inbox.c.id == inbox_id)).scalar_one()
    assert console.gateway.blobs.exists(kept)


def test_dead_letters_of_intake_and_of_delivery_are_replayed(console: ConsoleClient,
                                                             channel: BreakableChannel) -> None:
    gateway = console.gateway
    channel.unavailable = True
    dead = gateway.pipeline.receive(pull_message()).inbox_id
    _work(gateway)
    assert inbox_state(gateway, dead) == "dead"
    console.login("sachbearbeitung")
    overview = console.http.get("/console/")
    assert 'id="adapter-channel-testpull"' in overview.text and "gestört" in text_of(overview.text)
    assert f'id="eingang-{dead}"' in console.http.get("/console/quarantaene?liste=unzustellbar").text
    channel.unavailable = False
    _confirm(console, f"/console/eingang/{dead}/wiederholen")
    _work(gateway)
    assert inbox_state(gateway, dead) == "acknowledged"

    channel.ack_down = True
    message = pull_message()
    acked = gateway.pipeline.receive(message).inbox_id
    _work(gateway)
    assert inbox_state(gateway, acked) == "committed"
    with gateway.db.reading() as conn:
        row_id = conn.execute(select(tables.outbox.c.id).where(tables.outbox.c.inbox_id == acked,
                                                               tables.outbox.c.state == "dead")).scalar_one()
    listing = console.http.get("/console/quarantaene?liste=ausgang")
    assert f'id="ausgang-{row_id}"' in listing.text
    assert "im Ausgang" in console.http.get("/console/").text
    channel.ack_down = False
    done = _confirm(console, f"/console/ausgang/{row_id}/wiederholen")
    assert done.headers["location"] == "/console/quarantaene?liste=ausgang&erledigt=wiederholt"  # type: ignore[attr-defined]
    _work(gateway)
    assert inbox_state(gateway, acked) == "acknowledged" and message.source_id in channel.acks
    assert [r["details"]["outbox_id"] for r in console.audit("delivery.replayed")] == [row_id]


def test_a_dead_delivery_can_be_discarded(console: ConsoleClient, channel: BreakableChannel) -> None:
    gateway = console.gateway
    channel.ack_down = True
    acked = gateway.pipeline.receive(pull_message()).inbox_id
    _work(gateway)
    with gateway.db.reading() as conn:
        row_id = conn.execute(select(tables.outbox.c.id).where(tables.outbox.c.inbox_id == acked)).scalar_one()
    console.login("sachbearbeitung")
    _confirm(console, f"/console/ausgang/{row_id}/verwerfen", grund="sonstiges")
    with gateway.db.reading() as conn:
        state = conn.execute(select(tables.outbox.c.state).where(tables.outbox.c.id == row_id)).scalar_one()
    assert state == "discarded"
    assert console.http.get(f"/console/ausgang/{row_id}/wiederholen").status_code == 409
    assert [r["details"]["reason"] for r in console.audit("delivery.discarded")] == ["sonstiges"]


def test_state_changes_without_the_csrf_token_are_refused(console: ConsoleClient, channel: BreakableChannel) -> None:
    inbox_id = quarantined(console.gateway, channel)
    console.login("sachbearbeitung")
    path = f"/console/eingang/{inbox_id}/wiederholen"
    missing = console.http.post(path, data={}, follow_redirects=False)
    wrong = console.http.post(path, data={"csrf": "x" * 43}, follow_redirects=False)
    token = console.csrf()
    foreign = console.http.post(path, data={"csrf": token}, headers={"Origin": "https://angreifer.example"},
                                follow_redirects=False)
    as_json = console.http.post(path, json={"csrf": token}, follow_redirects=False)
    for response in (missing, wrong, foreign):
        assert response.status_code == 403 and "Formular abgelaufen" in response.text
    assert as_json.status_code == 415
    logout = console.http.post("/console/abmelden", data={}, follow_redirects=False)
    assert logout.status_code == 403 and console.http.get("/console/").status_code == 200
    assert inbox_state(console.gateway, inbox_id) == "quarantined" and console.audit("replayed") == []


def test_the_csrf_token_of_one_session_is_worthless_in_another(console: ConsoleClient, other_console: ConsoleClient,
                                                                channel: BreakableChannel) -> None:
    inbox_id = quarantined(console.gateway, channel)
    console.login("sachbearbeitung")
    other_console.login("leitung")
    stolen = console.csrf()
    refused = other_console.http.post(f"/console/eingang/{inbox_id}/wiederholen", data={"csrf": stolen},
                                      follow_redirects=False)
    assert refused.status_code == 403 and inbox_state(console.gateway, inbox_id) == "quarantined"


def test_an_admin_sees_and_touches_only_their_municipalities(console: ConsoleClient,
                                                             channel: BreakableChannel) -> None:
    gateway = console.gateway
    ours = quarantined(gateway, channel)
    theirs = quarantined(gateway, channel, tenant=OTHER_TENANT)
    other_case = gateway.pipeline.intake(portal_message(tenant=OTHER_TENANT)).case
    assert other_case is not None
    console.login("andere")
    listing = console.http.get("/console/quarantaene").text
    assert f'id="eingang-{theirs}"' in listing and f'id="eingang-{ours}"' not in listing
    for path in (f"/console/eingang/{ours}", f"/console/eingang/{ours}/wiederholen",
                 f"/console/eingang/{ours}/original"):
        assert console.http.get(path).status_code == 404, path
    forged = console.http.post(f"/console/eingang/{ours}/wiederholen", data={"csrf": console.csrf()},
                               follow_redirects=False)
    assert forged.status_code == 404 and inbox_state(gateway, ours) == "quarantined"
    cases = console.http.get("/console/faelle").text
    assert other_case.reference in cases
    katalog = text_of(console.http.get("/console/katalog").text)
    assert "Zweitgemeinde" in katalog and "Testgemeinde" not in katalog


def test_the_original_is_shown_escaped_only_with_the_permission_and_every_view_is_audited(
        console: ConsoleClient, other_console: ConsoleClient, channel: BreakableChannel) -> None:
    hostile = {"hund": {"name": "<script>alert('x')</script>", "wurfdatum": "2025-03-01", "gefaehrlich": False},
               "halter": {"vorname": "Erika", "nachname": "Mustermann", "geburtsdatum": "12.08.1964"}}
    inbox_id = quarantined(console.gateway, channel, data=hostile)
    other_console.login("sachbearbeitung")
    assert "Originalnachricht anzeigen" not in other_console.http.get(f"/console/eingang/{inbox_id}").text
    refused = other_console.http.get(f"/console/eingang/{inbox_id}/original")
    assert refused.status_code == 403 and console.audit("console.original_viewed") == []
    console.login("leitung")
    shown = console.http.get(f"/console/eingang/{inbox_id}/original")
    assert shown.status_code == 200
    assert "<script>" not in shown.text and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in shown.text
    assert "Mustermann" in shown.text and "protokolliert" in shown.text
    console.http.get(f"/console/eingang/{inbox_id}/original")
    views = console.audit("console.original_viewed")
    assert [(v["actor"], v["inbox_id"]) for v in views] == [("console:leitung", inbox_id)] * 2
    assert "Mustermann" not in str(views)


def test_a_large_original_is_cut_and_control_characters_are_replaced(console: ConsoleClient,
                                                                      channel: BreakableChannel) -> None:
    long_name = "A" * 100_000 + "\x1b[31m"
    inbox_id = quarantined(console.gateway, channel, form="test-hund", note=long_name)
    console.login("leitung")
    shown = console.http.get(f"/console/eingang/{inbox_id}/original").text
    assert "die ersten 65536 Bytes (gekürzt)" in text_of(shown)
    assert "\x1b" not in shown and len(shown) < 80_000


def test_a_quarantined_message_whose_original_was_purged_offers_neither_original_nor_replay(
        console: ConsoleClient, channel: BreakableChannel) -> None:
    gateway = console.gateway
    inbox_id = quarantined(gateway, channel)
    console.login("leitung")  # may view originals
    path = f"/console/eingang/{inbox_id}/wiederholen"
    stale_form = form_with_action(console.http.get(path).text, path)  # a page opened before the purge
    later = gateway.clock() + dt.timedelta(days=gateway.settings.retention.quarantine_days or 0, hours=1)
    assert Retention(gateway.db, gateway.blobs, gateway.catalog, gateway.settings, lambda: later).run().messages == 1
    listing = text_of(console.http.get("/console/quarantaene").text)
    assert "Original gelöscht" in listing and "Invalid payload" in listing  # still listed, with its reason
    detail = text_of(console.http.get(f"/console/eingang/{inbox_id}").text)
    assert "in Quarantäne" in detail and "nach Ablauf der Aufbewahrungsfrist gelöscht" in detail
    assert "the sender's format is not configured" in detail
    assert "Originalnachricht anzeigen" not in detail and "Erneut verarbeiten" not in detail and "Verwerfen" in detail
    original = console.http.get(f"/console/eingang/{inbox_id}/original")
    assert original.status_code == 410 and "Aufbewahrungsfrist" in text_of(original.text)
    assert console.audit("console.original_viewed") == []
    assert console.http.get(path).status_code == 410
    replayed = console.http.post(path, data=stale_form["fields"], follow_redirects=False)
    assert replayed.status_code == 410 and "Aufbewahrungsfrist" in text_of(replayed.text)
    assert inbox_state(gateway, inbox_id) == "quarantined" and console.audit("replayed") == []
    discarded = _confirm(console, f"/console/eingang/{inbox_id}/verwerfen", grund="test")
    assert discarded.status_code == 303 and inbox_state(gateway, inbox_id) == "discarded"  # type: ignore[attr-defined]

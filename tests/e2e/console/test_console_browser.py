"""The admin console in a real headless Chromium (Debian's, driven by Playwright; nothing is
downloaded). The path of the issue's "Done when": an adapter is broken, the admin sees it on the
overview, finds the stuck message, its cause is fixed, the admin replays it from the console
with confirmation, and the case appears. Every page is checked with axe-core; screenshots and
axe results go to ``test-artifacts/console/`` (kept as test artefacts, ignored by git).

A missing browser fails the test with what to install — never a skip.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from adapters.xta import samples
from tests.e2e.console.conftest import Stack, check_accessibility, log_in, shot, write_catalog


def _wait(condition: Any, what: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _inbox_state(stack: Stack, message_id: str) -> str | None:
    entry = stack.gw.queries.inbox_entry("xta", message_id)
    return entry.state if entry is not None else None


def test_an_admin_finds_a_stuck_message_fixes_the_cause_and_replays_it(stack: Stack, page: Any) -> None:
    # An EfA Wohngeld application arrives over XTA, but the catalog lacks the service: quarantined
    # (and, with quarantine_then_close: false, left open in the mailbox).
    message_id = samples.post(stack.portal, samples.WOHNGELD, samples.WOHNGELD.fixtures()[0].read_bytes())
    _wait(lambda: _inbox_state(stack, message_id) == "quarantined", "the message to be quarantined")

    page.goto(f"{stack.url}/console/")
    page.wait_for_selector("#benutzername")
    shot(page, "01-anmelden")
    check_accessibility(page, "01-anmelden")
    log_in(page, stack)

    # 1. the overview shows the XTA channel impaired, with the reason
    xta = page.locator("#adapter-channel-xta")
    assert "beeinträchtigt" in xta.inner_text() and "1 in Quarantäne" in xta.inner_text()
    assert "unknown-service" in xta.inner_text()
    assert "brauchen Aufmerksamkeit" in page.inner_text("#zusammenfassung")
    shot(page, "02-uebersicht-gestoert")
    check_accessibility(page, "02-uebersicht")

    # 2. from there to the quarantine, and to the stuck message with its reason
    xta.get_by_role("link", name="1").click()
    page.wait_for_selector("#liste")
    shot(page, "03-quarantaene")
    check_accessibility(page, "03-quarantaene")
    page.locator("#liste tbody tr").first.get_by_role("link").click()
    page.wait_for_selector("#angaben")
    reason = page.inner_text("#grund")
    assert "99107006001000" in reason and "does not offer this service" in reason
    assert page.inner_text("#zustand") == "in Quarantäne"
    detail_url = page.url
    shot(page, "04-nachricht")
    check_accessibility(page, "04-nachricht")

    # the original, escaped text, its view audited
    page.click("#original-anzeigen")
    page.wait_for_selector("#original")
    assert "Musterfrau" in page.inner_text("#original")  # the fixture's applicant: personal data, audited
    shot(page, "05-original")
    check_accessibility(page, "05-original")
    with stack.gw.db.reading() as conn:
        from sqlalchemy import select

        from gateway.store.tables import audit
        viewed = conn.execute(select(audit.c.actor).where(audit.c.action == "console.original_viewed")).all()
    assert [v.actor for v in viewed] == ["console:leitung"]

    # 3. the cause is fixed: the admin adds the service to the catalog file and restarts the
    #    gateway (`rathaus-gateway catalog check`, then a restart of the service); the browser
    #    session survives the restart (sessions live in the gateway database)
    write_catalog(stack.mappings_dir, wohngeld=True)
    stack.restart()
    page.goto(f"{stack.url}/console/katalog")
    assert "Wohngeld – Mietzuschuss" in page.inner_text("#leistung-99107006001000")
    shot(page, "06-katalog-ergaenzt")
    check_accessibility(page, "06-katalog")

    # 4. replay from the console, with a confirmation step
    page.goto(detail_url)
    page.click("#wiederholen")
    page.wait_for_selector("#bestaetigen")
    assert "Erneut verarbeiten?" in page.inner_text("h1")
    shot(page, "07-bestaetigen")
    check_accessibility(page, "07-bestaetigen")
    page.click("#bestaetigen")
    page.wait_for_selector("#meldung")
    assert "erneut verarbeitet" in page.inner_text("#meldung")
    _wait(lambda: _inbox_state(stack, message_id) == "acknowledged", "the replayed message to become a case")
    page.reload()
    page.wait_for_selector("#fall")
    reference = page.inner_text("#fall")
    shot(page, "08-angelegt")

    # 5. the case appears in the case search; the message is closed in the mailbox exactly once
    page.click("#fall a")
    page.wait_for_selector("#faelle")
    row = page.locator("#faelle tbody tr").first
    assert reference in row.inner_text() and "Wohngeld" in row.inner_text()
    shot(page, "09-fall")
    check_accessibility(page, "09-fallsuche")
    assert stack.xta.calls[f"closed:{message_id}"] == 1 and message_id not in stack.xta.open_messages(
        samples.TOWN.value)
    page.goto(f"{stack.url}/console/")
    assert "in Ordnung" in page.inner_text("#adapter-channel-xta")
    shot(page, "10-uebersicht-in-ordnung")


def test_a_broken_upstream_is_shown_and_its_dead_acknowledgement_replayed(stack: Stack, page: Any) -> None:
    # The XTA server fails every close (technical problem, 9030): the case is committed, but its
    # acknowledgement upstream runs out of retries and becomes a dead letter of the outbox.
    stack.xta.fail_next("close", "9030", times=1000)
    message_id = samples.post(stack.portal, samples.GEWERBE, samples.GEWERBE.fixtures()[0].read_bytes())
    _wait(lambda: bool(stack.gw.queries.case_by_source("xta", message_id)), "the case")
    log_in(page, stack)
    _wait(lambda: (page.reload(), "gestört" in page.inner_text("#adapter-channel-xta"))[1], "the overview to show it")
    assert "1 im Ausgang" in page.inner_text("#adapter-channel-xta")
    shot(page, "11-uebersicht-gegenstelle-gestoert")
    page.locator("#adapter-channel-xta").get_by_role("link", name="1 im Ausgang").click()
    page.wait_for_selector("#liste")
    row = page.locator("#liste tbody tr").first
    assert "ack" in row.inner_text() and "xta" in row.inner_text()
    shot(page, "12-ausgang")
    check_accessibility(page, "12-ausgang")
    # the upstream recovers (its operator restarts it: here, the injected faults end)
    with stack.xta.lock:
        stack.xta.injected.clear()
    row.get_by_role("link", name="Erneut zustellen").click()
    page.wait_for_selector("#bestaetigen")
    page.click("#bestaetigen")
    page.wait_for_selector("#meldung")
    assert "erneut versucht" in page.inner_text("#meldung")
    _wait(lambda: _inbox_state(stack, message_id) == "acknowledged", "the acknowledgement")
    assert stack.xta.calls[f"closed:{message_id}"] == 1
    page.goto(f"{stack.url}/console/")
    assert "in Ordnung" in page.inner_text("#adapter-channel-xta")


def test_every_page_passes_axe_and_refusals_are_pages_too(stack: Stack, page: Any) -> None:
    log_in(page, stack)
    for name, path in (("ereignisse", "/console/ereignisse"), ("antworten", "/console/antworten"),
                       ("unzustellbar", "/console/quarantaene?liste=unzustellbar"),
                       ("fallsuche-fehler", "/console/faelle?von=31.12.2026"),
                       ("nicht-gefunden", "/console/eingang/00000000-0000-0000-0000-000000000000")):
        page.goto(stack.url + path)
        page.wait_for_selector("h1")
        shot(page, f"20-{name}")
        check_accessibility(page, f"20-{name}")
    assert "Nicht gefunden" in page.inner_text("h1")


def test_the_accessibility_check_fails_on_serious_violations(page: Any) -> None:
    """The check has teeth: an unlabelled button and an image without text are critical for axe."""
    page.set_content('<html lang="de"><head><title>x</title></head><body><main><button></button>'
                     '<img src="data:,"></main></body></html>')
    with pytest.raises(AssertionError, match=r"button-name|image-alt"):
        check_accessibility(page, "99-selbstpruefung")

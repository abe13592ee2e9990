"""The console by keyboard alone, in headless Chromium: the skip link comes first and jumps to the
content, Tab reaches every control of a page in reading order with a visible focus ring, and
forms submit with Enter (login, case search, logout)."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select

from adapters.xta import samples
from gateway.store.tables import cases
from tests.e2e.console.conftest import ADMIN, PASSWORD, Stack, shot

FOCUSABLE = "a[href], button, input:not([type=hidden]), select, textarea, [tabindex]:not([tabindex='-1'])"


def _mark_controls(page: Any) -> int:
    """Number every focusable control in document order (data-kb); returns how many there are."""
    count: int = page.evaluate(f"""() => {{
        const all = Array.from(document.querySelectorAll("{FOCUSABLE}"));
        all.forEach((el, i) => el.setAttribute("data-kb", String(i)));
        return all.length;
    }}""")
    return count


def _focused(page: Any) -> dict[str, Any]:
    found: dict[str, Any] = page.evaluate("""() => {
        const el = document.activeElement;
        const style = el ? getComputedStyle(el) : null;
        return {kb: el && el.getAttribute("data-kb"), tag: el ? el.tagName : null,
                outline: style ? style.outlineStyle + " " + style.outlineWidth : "",
                shadow: style ? style.boxShadow : ""};
    }""")
    return found


def _tab_through(page: Any) -> list[dict[str, Any]]:
    """Press Tab until the focus leaves the page's controls; what it visited, in order."""
    visited = []
    for _ in range(200):
        page.keyboard.press("Tab")
        now = _focused(page)
        if now["kb"] is None:
            break
        visited.append(now)
    return visited


def _assert_every_control_in_order(page: Any, name: str) -> None:
    page.goto(page.url.split("#", 1)[0])  # a fresh load: Tab starts at the top of the page
    count = _mark_controls(page)
    visited = _tab_through(page)
    # a date field takes one Tab per part (day, month, year): one control all the same
    order = [int(v["kb"]) for i, v in enumerate(visited) if i == 0 or v["kb"] != visited[i - 1]["kb"]]
    assert order == list(range(count)), f"{name}: Tab order {order} of {count} controls"
    for v in visited:
        assert v["outline"].startswith("solid") and not v["outline"].endswith(" 0px"), f"{name}: no focus ring {v}"


def _first_reference(stack: Stack) -> str:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with stack.gw.db.reading() as conn:
            reference = conn.execute(select(cases.c.reference)).scalar_one_or_none()
        if reference:
            return str(reference)
        time.sleep(0.1)
    raise AssertionError("the XTA message did not become a case")


def test_the_console_works_by_keyboard_alone(stack: Stack, page: Any) -> None:
    samples.post(stack.portal, samples.GEWERBE, samples.GEWERBE.fixtures()[0].read_bytes())
    page.goto(f"{stack.url}/console/anmelden")
    # the skip link is the first stop and jumps to the content
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent") == "Zum Inhalt springen"
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "inhalt"
    _assert_every_control_in_order(page, "anmelden")
    # log in by typing, Enter submits
    page.focus("#benutzername")
    page.keyboard.type(ADMIN)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_selector("#adapter")
    shot(page, "30-tastatur-uebersicht")
    _assert_every_control_in_order(page, "uebersicht")

    # the case search: every control reachable, Enter in the reference field submits the form
    reference = _first_reference(stack)
    page.goto(f"{stack.url}/console/faelle")
    _assert_every_control_in_order(page, "fallsuche")
    page.focus("#aktenzeichen")
    page.keyboard.type(reference)
    page.keyboard.press("Enter")
    page.wait_for_url("**aktenzeichen=*")
    assert reference in page.inner_text("#faelle tbody")
    shot(page, "31-tastatur-fallsuche")
    _assert_every_control_in_order(page, "fallsuche-ergebnis")

    # every page of the navigation: all controls in order
    for path in ("/console/quarantaene", "/console/katalog", "/console/ereignisse", "/console/antworten"):
        page.goto(stack.url + path)
        _assert_every_control_in_order(page, path)

    # log out by keyboard: focus the button, Enter
    page.focus("button:has-text('Abmelden')")
    page.keyboard.press("Enter")
    page.wait_for_selector("#benutzername")

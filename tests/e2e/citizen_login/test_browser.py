"""In a real headless Chromium (Debian's, driven by Playwright; no browser is downloaded): a
demo citizen logs in through the sandbox identity provider, submits an application on the demo
portal, and the case carries the login's pseudonym and trust level. Screenshots of every step
go to ``test-artifacts/citizen_login/`` (kept as test artefacts, ignored by git).

A missing browser fails the test with what to install — locally and with CI=true — never a skip.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REPO
from tests.e2e.citizen_login.conftest import Stack

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts" / "citizen_login"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's browser with "
                    "`apt-get install -y --no-install-recommends chromium` (make test does this)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    profile = tmp_path / "chromium-profile"
    with sync_playwright() as playwright:
        # a persistent context is the one Playwright call that takes a fresh --user-data-dir
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS, locale="de-DE")
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()
    shutil.rmtree(profile, ignore_errors=True)


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_a_demo_citizen_logs_in_and_applies(stack: Stack, page: Any) -> None:
    page.goto(f"{stack.sandbox_url}/portal/")
    shot(page, "01-portal")
    page.click("#login-substantiell")
    page.wait_for_selector("#login")  # the sandbox identity provider's login page
    page.check("input[name=account][value=erika]")
    page.select_option("select[name=level]", "STORK-QAA-Level-3")
    shot(page, "02-sandbox-login")
    page.click("#login")
    page.wait_for_selector("#pseudonym")
    shot(page, "03-logged-in")
    assert page.inner_text("#pseudonym") == "SANDBOX-BPK2-ERIKA-0001"
    assert page.inner_text("#trust-level") == "substantiell"
    page.select_option("#form", "kita-abmelden")
    page.click("#submit")
    page.wait_for_selector("#reference")
    shot(page, "04-submitted")
    case_id = page.inner_text("#case-id")
    token = stack.token("fach")
    case = httpx.get(f"{stack.gateway_url}/v1/cases/{case_id}", headers={"Authorization": f"Bearer {token}"}).json()
    account = case["applicant"]["account"]
    assert account["pseudonym"] == "SANDBOX-BPK2-ERIKA-0001"
    assert account["trust_level"] == "substantiell"
    assert account["provider"] == "sandbox" and account["proved_by"] == "Elster"
    assert account["postbox_reference"] == "5f0c2b1e-8d4a-4c7e-9b3f-2a6d8e1c0f47"
    assert case["reference"] == page.inner_text("#reference")
    # the portal names the applicant as the login does
    person = case["applicant"]["party"]
    assert (person["given_names"], person["family_name"]) == ("Erika", "Mustermann")


def test_a_service_above_the_login_level_asks_for_a_new_login(stack: Stack, page: Any) -> None:
    page.goto(f"{stack.sandbox_url}/portal/")
    page.click("#login-niedrig")
    page.wait_for_selector("#login")
    page.check("input[name=account][value=juergen]")
    page.click("#login")
    page.wait_for_selector("#pseudonym")
    assert page.inner_text("#trust-level") == "niedrig"
    page.select_option("#form", "kita-abmelden")
    page.click("#submit")
    page.wait_for_selector("#problem")
    shot(page, "05-level-too-low")
    assert "substantiell" in page.inner_text("#problem")
    assert "level=substantiell" in (page.get_attribute("#retry", "href") or "")

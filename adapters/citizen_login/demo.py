"""Demo for ``make run``: tells a newcomer how to log in as a demo citizen and submit an
application through the demo portal (the login itself happens in the browser)."""

from __future__ import annotations


def run(gateway_url: str, sandbox_urls: dict[str, str]) -> None:
    sandbox = sandbox_urls.get("citizen_login", "http://127.0.0.1:8103")
    print(f"  open {sandbox}/portal/ in a browser, choose 'Anmelden (substantiell)',")
    print("  pick a demo citizen (e.g. Erika Mustermann) and a trust level on the sandbox login page,")
    print("  then 'Antrag absenden': the case carries the citizen's pseudonym and trust level")
    print(f"  (service provider metadata: {gateway_url}/v1/citizen/saml/150905350535/sandbox/metadata)")

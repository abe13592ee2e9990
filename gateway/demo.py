"""Demo traffic for a newcomer: every portal form's sample input, submitted over HTTP."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterator

import httpx

from gateway.case.model import TrustLevel
from gateway.config import Settings
from gateway.identity import LoginIdentity
from gateway.sessions import SessionService
from gateway.yamlfile import load_yaml

DEMO_ATTACHMENT = b"Nachweis (Demo)\nDieses Dokument wurde vom Demo-Portal erzeugt.\n"


def portal_samples(settings: Settings) -> Iterator[tuple[str, str, str, str, bytes]]:
    """(tenant ARS, LeiKa, form, trust level, sample input) for every portal mapping in the catalog."""
    for tenant, leika, form, trust, _, sample in named_portal_samples(settings):
        yield tenant, leika, form, trust, sample


def named_portal_samples(settings: Settings) -> Iterator[tuple[str, str, str, str, str, bytes]]:
    """As :func:`portal_samples`, with each sample's name (its file name without suffixes)."""
    for catalog_file in sorted(settings.catalog_dir.glob("*.yaml")):
        catalog = load_yaml(catalog_file).data
        for service in catalog["services"]:
            if "portal" not in service["channels"]:
                continue
            for mapping_id in service["mappings"]:
                if not mapping_id.startswith("portal."):
                    continue
                trust = service.get("min_trust_level", "none")
                for sample in sorted((settings.fixtures_dir / "mappings" / mapping_id).glob("*.input.json")):
                    form = mapping_id.removeprefix("portal.")
                    yield (catalog["tenant"]["ars"], service["leika"], form,
                           "substantiell" if trust in ("none", "niedrig", "substantiell") else trust,
                           sample.name.removesuffix(".input.json"), sample.read_bytes())


def token(client: httpx.Client, client_id: str, client_secret: str) -> str:
    response = client.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": client_id,
                                                 "client_secret": client_secret})
    response.raise_for_status()
    return str(response.json()["access_token"])


def demo_session(sessions: SessionService, tenant: str, trust: str) -> str:
    """A session as a citizen login would issue it after a demo citizen's login."""
    return sessions.issue(LoginIdentity(
        provider="sandbox", tenant_ars=tenant, pseudonym=f"demo-{uuid.uuid4().hex[:12]}",
        trust_level=TrustLevel(trust), authn_context="STORK-QAA-Level-4" if trust == "hoch" else "STORK-QAA-Level-3",
        proved_by="eID", postbox_handle=str(uuid.uuid4())))


def demo_reply_channels(settings: Settings) -> dict[str, dict[str, str]]:
    """Sample name -> the reply preference the demo portal sends instead of the form's own choice:
    one applicant gives her OpenPGP key (the TEST key of fixtures/email/pgp), so her decision goes
    encrypted with its documents; the others keep what their form says."""
    key = (settings.fixtures_dir / "email" / "pgp" / "citizen-rsa3072.pub.asc").read_text(encoding="ascii")
    return {"halterin-zwei-hunde": {"kind": "email", "address": "erika.mustermann@example.org",
                                    "pgp_public_key": key}}


def feed_portal(settings: Settings, url: str, client_id: str, client_secret: str,
                sessions: SessionService | None = None) -> Iterator[str]:
    """Every sample application; the applicant's account comes from a session of ``sessions``
    (the citizen login's), services that need a login are refused without one."""
    preferences = demo_reply_channels(settings)
    with httpx.Client(base_url=url, timeout=30) as client:
        headers = {"Authorization": f"Bearer {token(client, client_id, client_secret)}"}
        for tenant, leika, form, trust, name, sample in named_portal_samples(settings):
            session = {"Citizen-Session": demo_session(sessions, tenant, trust)} if sessions else {}
            envelope = {
                "tenant": tenant, "service": leika, "form": form,
                "submitted_at": dt.datetime.now(dt.UTC).isoformat(),
                **({"reply_channel": preferences[name]} if name in preferences else {}),
                "data": json.loads(sample),
                "attachments": [{"id": "nachweis", "filename": "Nachweis.txt", "media_type": "text/plain",
                                 "sha512": hashlib.sha512(DEMO_ATTACHMENT).hexdigest()}],
            }
            response = client.post(
                "/v1/applications", headers={**headers, **session, "Idempotency-Key": f"demo-{uuid.uuid4()}"},
                files={"application": (None, json.dumps(envelope), "application/json"),
                       "nachweis": ("Nachweis.txt", DEMO_ATTACHMENT, "text/plain")})
            if response.status_code == 201:
                body = response.json()
                yield f"{form:<28} -> case {body['reference']} ({body['case_id']})"
            else:
                yield f"{form:<28} -> HTTP {response.status_code}: {response.text[:300]}"

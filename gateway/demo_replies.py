"""Demo local processing for `make run`: as ``demo-fachverfahren`` it decides a few cases of each
channel over the API (status in_progress, then decided) and sends each applicant a decision with
a PDF (POST /v1/cases/{id}/replies). The gateway picks the reply channel from the catalog and the
applicant's choice; a newcomer then watches the decisions arrive in the sandboxes."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas

from gateway.demo import token

# how many cases of each source channel to decide; all four FIT-Connect demo submissions, whatever
# order they arrived in, so the v2 sender's answer always reaches the postbox the demo names
PER_CHANNEL = {"portal": 6, "xta": 2, "fitconnect": 4}
# Every demo applicant has an electronic channel, so the catalog's last resort (a printed letter)
# would never show: one more portal case names the hybrid-mail channel itself.
LETTERS = {"portal": 1}


def decision_pdf(reference: str, service: str) -> bytes:
    """A one-page decision (DEMO): title, reference, a sentence; no address (a letter gets a cover page)."""
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, pagesize=A4, invariant=True)
    page.setFont("Helvetica-Bold", 14)
    page.drawString(25 * mm, 250 * mm, "Bescheid (Demo)")
    page.setFont("Helvetica", 11)
    page.drawString(25 * mm, 240 * mm, f"Aktenzeichen: {reference}")
    page.drawString(25 * mm, 232 * mm, f"Leistung: {service}"[:90])
    page.drawString(25 * mm, 220 * mm, "Ihrem Antrag wird stattgegeben. Dieser Bescheid wurde im Demo-Betrieb erzeugt.")
    page.showPage()
    page.save()
    return buffer.getvalue()


def _decide(client: httpx.Client, headers: dict[str, str], case: dict[str, Any]) -> None:
    for status, extra in (("in_progress", {}), ("decided", {"decision": "approved"})):
        current = client.get(f"/v1/cases/{case['id']}", headers=headers)
        current.raise_for_status()
        client.post(f"/v1/cases/{case['id']}/status", headers={**headers, "If-Match": current.headers["etag"]},
                    json={"status": status, **extra}).raise_for_status()


def decide_cases(url: str, client_id: str, client_secret: str) -> Iterator[tuple[str, str]]:
    """Decides a few received cases of each channel and sends the decisions; yields (case id, line)."""
    with httpx.Client(base_url=url, timeout=60) as client:
        headers = {"Authorization": f"Bearer {token(client, client_id, client_secret)}"}
        items = client.get("/v1/cases", params={"status": "received", "limit": 500}, headers=headers).json()["items"]
        taken: dict[str, int] = {}
        for case in items:
            count = taken.get(case["channel"], 0)
            letter = count >= PER_CHANNEL.get(case["channel"], 0)
            if count >= PER_CHANNEL.get(case["channel"], 0) + LETTERS.get(case["channel"], 0):
                continue
            taken[case["channel"]] = taken.get(case["channel"], 0) + 1
            _decide(client, headers, case)
            reply = {"kind": "decision", "title": f"Bescheid: {case['service_name']}",
                     "text": "Guten Tag,\n\nIhrem Antrag wird stattgegeben. Den Bescheid finden Sie in der Anlage.\n\n"
                             "Mit freundlichen Grüßen\nIhre Stadtverwaltung (Demo)",
                     "documents": [{"id": "bescheid", "filename": "Bescheid.pdf"}],
                     **({"channel": "hybridmail"} if letter else {})}
            pdf = decision_pdf(case["reference"], case["service_name"])
            response = client.post(
                f"/v1/cases/{case['id']}/replies",
                headers={**headers, "Idempotency-Key": f"demo-decision-{case['id']}"},
                files={"reply": (None, json.dumps(reply), "application/json"),
                       "bescheid": ("Bescheid.pdf", pdf, "application/pdf")})
            if response.status_code == 201:
                how = " by letter" if letter else ""
                yield case["id"], f"{case['reference']}  {case['channel']:<10} decision sent{how}"
            else:
                yield case["id"], f"{case['reference']}  {case['channel']:<10} HTTP {response.status_code}: " \
                                  f"{response.text[:200]}"


def where_they_went(url: str, client_id: str, client_secret: str, case_ids: list[str],
                    wait_seconds: float = 40.0) -> list[str]:
    """Once the worker has handed the decisions over (or ``wait_seconds`` passed): per case the
    channel and state of its decision, or its "send by post" task."""
    with httpx.Client(base_url=url, timeout=30) as client:
        headers = {"Authorization": f"Bearer {token(client, client_id, client_secret)}"}
        deadline = time.monotonic() + wait_seconds
        while True:
            cases = [client.get(f"/v1/cases/{cid}", headers=headers).json() for cid in case_ids]
            pending = any(d["state"] == "queued" for c in cases for r in c.get("replies", [])
                          for d in r["deliveries"])
            if not pending or time.monotonic() > deadline:
                break
            time.sleep(1)
    lines = []
    for case in cases:
        for reply in case.get("replies", []):
            where = [f"{d['channel']} {d['state']}" for d in reply["deliveries"]]
            if reply["post_task"] is not None:
                where.append(f"send-by-post task ({reply['post_task']['state']})")
            lines.append(f"{case['reference']}  {case['source']['channel']:<10} -> {', '.join(where)}")
    return lines

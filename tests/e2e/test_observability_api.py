"""Adapter health, metrics and correlation ids over HTTP: ``GET /v1/admin/adapters``,
``GET /metrics`` (who may scrape, what it says) and the ``X-Correlation-ID`` of a request."""

from __future__ import annotations

import re
import time
from pathlib import Path

from sqlalchemy import select

from gateway.store import tables
from tests.e2e.conftest import OTHER_TENANT, hund_envelope, new_key, problem_type
from tests.e2e.test_webhooks import receiver_and_gateway, work_until

METRICS_TOKEN = "metrics-scraper-token-0123456789abcdef"
HEALTH = {"failure_threshold": 2, "cooldown_seconds": 60}


def sample(text: str, metric: str, **labels: str) -> float | None:
    """The value of one sample of a Prometheus text page (None when it is not there)."""
    for line in text.splitlines():
        if not line.startswith(metric + "{") and not line.startswith(metric + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0])) if "{" in line else {}
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_the_adapter_overview_shows_a_broken_webhook_with_its_open_circuit(tmp_path: Path) -> None:
    hooks = [{"name": "fachverfahren", "url": "/down"}, {"name": "nachbar", "url": "/ok", "tenants": [OTHER_TENANT]}]
    with receiver_and_gateway(tmp_path, hooks, scripts={"/down": [500] * 100}, health=HEALTH) as (receiver, api):
        api.create_case()
        work_until(api, lambda: len(receiver.at("/down")) >= 2)
        time.sleep(0.1)
        api.gw.worker.run_until_idle()
        assert len(receiver.at("/down")) == 2, "no call while the circuit is open"

        assert api.get("/v1/admin/adapters", "fach").status_code == 403
        response = api.get("/v1/admin/adapters", "admin")
        assert response.status_code == 200
        body = response.json()
        assert body["channels"] == ["portal"] and body["sources"] == [] and body["queue_dead_letters"] == 0
        by_name = {(a["kind"], a["name"]): a for a in body["adapters"]}
        broken = by_name[("webhook", "fachverfahren")]
        assert (broken["state"], broken["circuit"], broken["consecutive_failures"]) == ("down", "open", 2)
        assert broken["last_error"]["type"] == problem_type("upstream-unavailable")
        assert broken["last_error"]["at"] and broken["retry_at"] and broken["last_success_at"] is None
        assert (broken["backlog"], broken["dead_letters"], broken["error_rate"]) == (1, 0, 1.0)
        assert broken["lag_seconds"] >= 0
        assert by_name[("webhook", "nachbar")]["state"] == "ok"

        other_admin = api.get("/v1/admin/adapters", "other")  # no admin scope at all
        assert other_admin.status_code == 403


def test_metrics_need_the_scrape_token_or_an_admin_token(tmp_path: Path) -> None:
    with receiver_and_gateway(tmp_path, [], metrics={"token": METRICS_TOKEN}) as (_, api):
        anonymous = api.http.get("/metrics")
        assert anonymous.status_code == 401 and anonymous.headers["content-type"] == "application/problem+json"
        assert api.http.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert api.get("/metrics", "fach").status_code == 403
        assert api.get("/metrics", "admin").status_code == 200
        scraped = api.http.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")


def test_metrics_count_intake_deliveries_and_show_queue_and_adapter_state(tmp_path: Path) -> None:
    hooks = [{"name": "fachverfahren", "url": "/hook"}]
    with receiver_and_gateway(tmp_path, hooks, scripts={"/hook": [500]}) as (receiver, api):
        def scrape() -> str:
            response = api.get("/metrics", "admin")
            assert response.status_code == 200
            return response.text

        # the counters of this test process run on from earlier tests: compare with before
        before = scrape()

        def grown(text: str, metric: str, **labels: str) -> float:
            return (sample(text, metric, **labels) or 0.0) - (sample(before, metric, **labels) or 0.0)

        committed = {"channel": "portal", "service": "99108008001000", "outcome": "committed"}
        webhook = {"kind": "webhook", "target": "fachverfahren"}
        api.create_case()
        refused = api.submit(hund_envelope(service="99999999999999"), key=new_key())
        assert refused.status_code >= 400
        waiting = scrape()
        assert grown(waiting, "rg_intake_total", **committed) == 1
        assert grown(waiting, "rg_intake_total", channel="portal", service="unknown", outcome="refused") == 1
        assert grown(waiting, "rg_intake_seconds_count", channel="portal") == 1
        assert sample(waiting, "rg_queue_depth", stage="delivery", name="webhook") == 1
        assert sample(waiting, "rg_outbox_rows", **webhook, state="pending") == 1

        work_until(api, lambda: any(d.answered == 200 for d in receiver.at("/hook")))
        done = scrape()
        assert grown(done, "rg_outbox_deliveries_total", **webhook, outcome="retry") == 1
        assert grown(done, "rg_outbox_deliveries_total", **webhook, outcome="delivered") == 1
        assert grown(done, "rg_retries_total", stage="delivery", name="webhook") == 1
        assert grown(done, "rg_outbox_delivery_seconds_count", **webhook) == 1
        assert sample(done, "rg_queue_depth", stage="delivery", name="webhook") == 0
        assert sample(done, "rg_queue_depth", stage="intake", name="portal") == 0
        assert sample(done, "rg_outbox_rows", **webhook, state="pending") is None
        assert sample(done, "rg_adapter_state", kind="webhook", name="fachverfahren", state="ok") == 1
        assert sample(done, "rg_adapter_circuit", kind="webhook", name="fachverfahren", circuit="closed") == 1
        for personal in ("Erika", "Mustermann", "Bello", "1980-02-29"):
            assert personal not in done


def test_a_request_s_correlation_id_follows_its_application(tmp_path: Path) -> None:
    hooks = [{"name": "fachverfahren", "url": "/hook"}]
    with receiver_and_gateway(tmp_path, hooks) as (receiver, api):
        response = api.http.post("/v1/applications", json=hund_envelope(), headers=api.auth(
            "portal", **{"Idempotency-Key": new_key(), "X-Correlation-ID": "portal-req-4711-abc"}))
        assert response.status_code == 201 and response.headers["x-correlation-id"] == "portal-req-4711-abc"
        with api.gw.db.reading() as conn:
            stored = conn.execute(select(tables.inbox.c.correlation_id).where(
                tables.inbox.c.case_id == response.json()["case_id"])).scalar_one()
        assert stored == "portal-req-4711-abc"
        api.gw.worker.run_until_idle()
        [delivery] = receiver.at("/hook")
        assert delivery.headers["x-correlation-id"] == "portal-req-4711-abc"

        for insane in ("short", "Erika Mustermann 1980", "x" * 65, "<script>"):
            answered = api.http.get("/v1/cases", headers=api.auth("fach", **{"X-Correlation-ID": insane}))
            assert re.fullmatch(r"[0-9a-f]{32}", answered.headers["x-correlation-id"]), insane
        fresh = api.get("/v1/cases", "fach")
        assert re.fullmatch(r"[0-9a-f]{32}", fresh.headers["x-correlation-id"])

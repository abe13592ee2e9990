"""Replies in the core on real stores (SQLite and PostgreSQL + Redis): commit, channel choice,
delivery states, hand-over on refusal, retries and dead letters, replay, follow-up, post tasks,
idempotency, exactly one delivery per reply and channel after a crash."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import func, select

from gateway.bootstrap import Gateway
from gateway.errors import IdempotencyKeyReused, InvalidRequest, NotFound, PayloadTooLarge, UnsupportedMediaType
from gateway.ports import DeliveryReport
from gateway.store import blob_gc, outbox_repo
from gateway.store.tables import outbox, reply_deliveries, reply_post_tasks
from tests.conftest import OTHER_TENANT
from tests.integration.replies.conftest import (
    Channels,
    decision,
    email_case,
    event_types,
    new_case,
    pdf,
    sha512,
)


def submit(gw: Gateway, case_id: str, request=None, parts=None, key: str | None = None,  # type: ignore[no-untyped-def]
           client: str = "fach", tenants: list[str] | None = None):
    return gw.replies.submit(case_id, request or decision(), parts or {}, client_id=client, idempotency_key=key,
                             tenants=tenants)


def until_dead(gw: Gateway, case_id: str, reply_id: str) -> None:
    """Worker rounds until the reply's delivery is dead (the backoff between attempts is short)."""
    for _ in range(100):
        gw.worker.run_once()
        if gw.replies.reply(case_id, reply_id, None).deliveries[0].state == "dead":
            return
        time.sleep(0.06)  # the test settings' longest backoff is 0.05 s
    raise AssertionError("the delivery never became dead")


def count(gw: Gateway, table) -> int:  # type: ignore[no-untyped-def]
    with gw.db.reading() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_reply_commits_with_its_delivery_and_outbox_row_and_is_delivered_once(rgw: Gateway, fakes: Channels
                                                                                 ) -> None:
    case = email_case(rgw)
    document = pdf("bescheid")
    request = decision(documents=[{"id": "bescheid", "filename": "Bescheid.pdf"}])
    sent = submit(rgw, str(case.id), request, {"bescheid": document}).reply
    assert [(d.channel, d.state, d.recipient) for d in sent.deliveries] == [("email", "queued", "erika@example.org")]
    assert sent.documents[0].sha512 == sha512(document) and sent.plan == ["email", "postbox", "hybridmail"]
    with rgw.db.reading() as conn:
        rows = [r for r in outbox_repo.list_state(conn, "pending", 100) if r.kind == "reply"]
    assert [(r.target, r.payload["delivery_id"]) for r in rows] == [("email", sent.deliveries[0].id)]

    rgw.worker.run_until_idle()
    rgw.worker.run_until_idle()
    assert fakes.email.calls == [sent.deliveries[0].id]  # once, and only through the chosen channel
    assert fakes.postbox.calls == [] and fakes.hybridmail.calls == []
    delivered = fakes.email.delivered[sent.deliveries[0].id]
    assert (delivered.reply_id, delivered.kind, delivered.recipient, delivered.case.id) == (
        sent.id, "decision", "erika@example.org", case.id)
    shown = rgw.replies.reply(str(case.id), sent.id, None).deliveries[0]
    assert (shown.state, shown.remote_id, [h.state for h in shown.history]) == (
        "sent", f"email-{shown.id[:8]}", ["queued", "sent"])
    assert event_types(rgw, str(case.id))[-2:] == ["case.reply.queued", "case.reply.sent"]


def test_the_applicants_choice_goes_first_then_the_catalog_order(rgw: Gateway, fakes: Channels) -> None:
    with_postbox_and_email = new_case(rgw, reply_channel={"kind": "email", "address": "max@example.org"},
                                      account={"provider": "bundid", "pseudonym": "p", "trust_level": "hoch",
                                               "postbox_reference": "6f1f2a52-1111-4c1e-8d3e-0d6a2b0b9a01"})
    assert [d.channel for d in submit(rgw, str(with_postbox_and_email.id)).reply.deliveries] == ["email"]
    postbox_only = new_case(rgw, account={"provider": "bundid", "pseudonym": "q", "trust_level": "hoch",
                                          "postbox_reference": "6f1f2a52-2222-4c1e-8d3e-0d6a2b0b9a01"})
    reply = submit(rgw, str(postbox_only.id)).reply
    assert [(d.channel, d.recipient) for d in reply.deliveries] == [
        ("postbox", "6f1f2a52-2222-4c1e-8d3e-0d6a2b0b9a01")]
    nothing_electronic = new_case(rgw)  # no account, no reply channel: the letter channel serves it
    assert [d.channel for d in submit(rgw, str(nothing_electronic.id)).reply.deliveries] == ["hybridmail"]


def test_where_no_channel_is_allowed_or_possible_the_reply_becomes_a_post_task(rgw: Gateway,
                                                                               fakes: Channels) -> None:
    fakes.hybridmail.recipient_of = lambda case: None  # no address for a letter
    case = new_case(rgw)
    reply = submit(rgw, str(case.id)).reply
    assert reply.deliveries == [] and reply.post_task is not None and reply.post_task.state == "open"
    assert {p["channel"]: p["reason"] for p in reply.post_task.reason["passed_over"]} == {
        "postbox": "cannot serve this case", "email": "cannot serve this case", "hybridmail": "cannot serve this case"}
    other = new_case(rgw, tenant=OTHER_TENANT)  # its catalog names no reply channel at all
    assert submit(rgw, str(other.id)).reply.post_task is not None
    listed = rgw.replies.post_tasks("open", ["150905350535"], 10)
    assert [(t.reply_id, t.kind, t.reference) for t in listed] == [(reply.id, "decision", case.reference)]
    closed = rgw.replies.close_post_task(reply.post_task.id, "done", "mit der Post am 21.11.", "client:fach", None)
    assert (closed.state, closed.closed_by) == ("done", "client:fach")
    assert rgw.replies.post_tasks("open", ["150905350535"], 10) == []
    with pytest.raises(InvalidRequest):
        rgw.replies.close_post_task(reply.post_task.id, "cancelled", None, "client:fach", None)
    assert event_types(rgw, str(case.id))[-2:] == ["case.reply.post_task", "case.reply.post_task"]


def test_a_refusing_channel_fails_the_delivery_with_its_problem_and_the_next_channel_takes_over(
        rgw: Gateway, fakes: Channels) -> None:
    fakes.email.mode = "refuse"
    case = email_case(rgw)
    reply = submit(rgw, str(case.id)).reply
    rgw.worker.run_until_idle()
    shown = rgw.replies.reply(str(case.id), reply.id, None)
    assert [(d.channel, d.state) for d in shown.deliveries] == [("email", "failed"), ("hybridmail", "sent")]
    problem = shown.deliveries[0].problem
    assert problem is not None and problem["detail"] == "the channel refuses this reply"
    assert problem["channel_code"] == "X42"
    fakes.hybridmail.mode = "refuse"
    reply2 = submit(rgw, str(case.id), decision(title="Zweiter Bescheid")).reply
    rgw.worker.run_until_idle()
    shown2 = rgw.replies.reply(str(case.id), reply2.id, None)
    assert [(d.channel, d.state) for d in shown2.deliveries] == [("email", "failed"), ("hybridmail", "failed")]
    assert shown2.post_task is not None and shown2.post_task.reason["failed"] == ["email", "hybridmail"]
    types = event_types(rgw, str(case.id))
    assert types.count("case.reply.failed") == 3 and types[-1] == "case.reply.post_task"
    with rgw.db.reading() as conn:  # a refusal is handled, not a dead letter
        assert [r for r in outbox_repo.list_state(conn, "dead", 100) if r.kind == "reply"] == []


def test_a_channel_that_is_down_is_retried_then_dead_then_replayed(rgw: Gateway, fakes: Channels) -> None:
    fakes.email.mode = "down"
    case = email_case(rgw)
    reply = submit(rgw, str(case.id)).reply
    until_dead(rgw, str(case.id), reply.id)
    delivery = rgw.replies.reply(str(case.id), reply.id, None).deliveries[0]
    assert (delivery.state, delivery.attempts, len(fakes.email.calls)) == ("dead", 3, 3)
    assert delivery.problem is not None and delivery.problem["type"].endswith("/upstream-unavailable")
    assert [h.note for h in delivery.history if h.note] == [
        "attempt 1 failed, will be retried", "attempt 2 failed, will be retried", "given up after 3 attempts"]
    admin_view = rgw.replies.deliveries_in_state("dead", ["150905350535"], 10)
    assert [(d.id, d.channel) for d in admin_view] == [(delivery.id, "email")]
    assert not hasattr(admin_view[0], "recipient")
    assert event_types(rgw, str(case.id))[-1] == "case.reply.failed"

    fakes.email.mode = "ok"
    assert rgw.replies.replay(delivery.id, "client:admin", ["150905350535"])
    assert not rgw.replies.replay(delivery.id, "client:admin", ["150905350535"])  # not dead any more
    rgw.worker.run_until_idle()
    after = rgw.replies.reply(str(case.id), reply.id, None).deliveries[0]
    assert (after.state, after.problem) == ("sent", None)
    assert [h.state for h in after.history][-3:] == ["dead", "queued", "sent"]
    assert list(fakes.email.delivered) == [delivery.id]


def test_the_generic_outbox_replay_requeues_the_delivery_too(rgw: Gateway, fakes: Channels) -> None:
    fakes.email.mode = "down"
    case = email_case(rgw)
    reply = submit(rgw, str(case.id)).reply
    until_dead(rgw, str(case.id), reply.id)
    with rgw.db.reading() as conn:
        [dead] = [r for r in outbox_repo.list_state(conn, "dead", 100) if r.kind == "reply"]
    fakes.email.mode = "ok"
    with rgw.db.transaction() as uow:
        assert rgw.dispatcher.revive(uow.conn, dead.id, dt.datetime.now(dt.UTC), "cli")
    assert rgw.replies.reply(str(case.id), reply.id, None).deliveries[0].state == "queued"
    rgw.worker.run_until_idle()
    assert rgw.replies.reply(str(case.id), reply.id, None).deliveries[0].state == "sent"


def test_follow_up_records_what_the_channel_reports_and_stops_when_final(rgw: Gateway, fakes: Channels) -> None:
    rgw.settings.replies.follow_interval_seconds = 0.001
    case = email_case(rgw)
    reply = submit(rgw, str(case.id)).reply
    rgw.worker.run_until_idle()
    fakes.email.follow_reports = [DeliveryReport("accepted", detail="relay took it"),
                                  DeliveryReport("sent"),  # a stale report changes nothing
                                  DeliveryReport("delivered", detail="in the mailbox"),
                                  DeliveryReport("read", detail="opened")]
    for _ in range(12):
        rgw.worker.follow_replies()
        if not fakes.email.follow_reports:
            break
        with rgw.db.transaction() as uow:  # the next look is due now
            uow.conn.execute(reply_deliveries.update().where(reply_deliveries.c.follow_at.is_not(None))
                             .values(follow_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    delivery = rgw.replies.reply(str(case.id), reply.id, None).deliveries[0]
    assert [h.state for h in delivery.history] == ["queued", "sent", "accepted", "delivered", "read"]
    assert delivery.detail == "opened"
    with rgw.db.reading() as conn:
        assert conn.execute(select(reply_deliveries.c.follow_at)).scalar_one() is None  # final: not followed
    assert event_types(rgw, str(case.id))[-3:] == ["case.reply.sent", "case.reply.delivered", "case.reply.delivered"]


def test_a_failure_reported_later_hands_the_reply_over(rgw: Gateway, fakes: Channels) -> None:
    rgw.settings.replies.follow_interval_seconds = 0.001
    case = email_case(rgw)
    reply = submit(rgw, str(case.id)).reply
    rgw.worker.run_until_idle()
    fakes.email.follow_reports = [DeliveryReport("failed", detail="bounced: mailbox unknown")]
    with rgw.db.transaction() as uow:
        uow.conn.execute(reply_deliveries.update().values(follow_at=dt.datetime.now(dt.UTC)))
    assert rgw.worker.follow_replies() == 1
    rgw.worker.run_until_idle()
    shown = rgw.replies.reply(str(case.id), reply.id, None)
    assert [(d.channel, d.state) for d in shown.deliveries] == [("email", "failed"), ("hybridmail", "sent")]
    assert shown.deliveries[0].problem and shown.deliveries[0].problem["detail"] == "bounced: mailbox unknown"


def test_the_same_reply_posted_twice_is_committed_once(rgw: Gateway, fakes: Channels) -> None:
    case = email_case(rgw)
    first = submit(rgw, str(case.id), key="reply-key-0001")
    again = submit(rgw, str(case.id), key="reply-key-0001")
    assert (again.replayed, again.reply.id, first.replayed) == (True, first.reply.id, False)
    with pytest.raises(IdempotencyKeyReused):
        submit(rgw, str(case.id), decision(title="Ein anderer Bescheid"), key="reply-key-0001")
    other_client = submit(rgw, str(case.id), key="reply-key-0001", client="reader")  # keys are per client
    assert other_client.reply.id != first.reply.id
    rgw.worker.run_until_idle()
    assert sorted(fakes.email.calls) == sorted([first.reply.deliveries[0].id, other_client.reply.deliveries[0].id])


def test_unknown_case_other_tenant_and_channels_the_case_does_not_allow(rgw: Gateway, fakes: Channels) -> None:
    with pytest.raises(NotFound):
        submit(rgw, "00000000-0000-0000-0000-000000000000")
    other = new_case(rgw, tenant=OTHER_TENANT)
    with pytest.raises(NotFound):
        submit(rgw, str(other.id), tenants=["150905350535"])
    case = email_case(rgw)
    with pytest.raises(InvalidRequest) as refused:
        submit(rgw, str(case.id), decision(channel="xta"))  # not in the catalog for decisions of this service
    assert refused.value.extensions["allowed"] == ["postbox", "email", "hybridmail"]
    with pytest.raises(InvalidRequest, match="cannot reach"):
        submit(rgw, str(case.id), decision(channel="postbox"))  # allowed, but the case has no postbox
    with pytest.raises(InvalidRequest, match="not configured"):
        rgw.adapters.reply_channels._items.pop("hybridmail")
        submit(rgw, str(case.id), decision(channel="hybridmail"))
    assert count(rgw, reply_deliveries) == 0 and count(rgw, reply_post_tasks) == 0
    explicit = submit(rgw, str(case.id), decision(channel="email")).reply
    assert (explicit.plan, explicit.channel) == (["email"], "email")


def test_documents_must_be_pdfs_within_the_limit_and_uploads_are_the_clients_own(rgw: Gateway,
                                                                                 fakes: Channels) -> None:
    case = email_case(rgw)
    with_doc = decision(documents=[{"id": "d", "filename": "Bescheid.pdf"}])
    with pytest.raises(UnsupportedMediaType):
        submit(rgw, str(case.id), with_doc, {"d": b"GIF89a not a pdf"})
    rgw.settings.replies.max_document_bytes = 2048
    with pytest.raises(PayloadTooLarge):
        submit(rgw, str(case.id), with_doc, {"d": pdf("x" * 3000)})
    with pytest.raises(InvalidRequest, match="not a document announced"):
        submit(rgw, str(case.id), with_doc, {"d": pdf(), "stray": pdf()})
    uploaded = pdf("vorab hochgeladen")
    digest, size = rgw.replies.upload(uploaded, "fach")
    by_hash = decision(documents=[{"id": "d", "filename": "Bescheid.pdf", "sha512": digest}])
    with pytest.raises(InvalidRequest, match="no pending upload"):
        submit(rgw, str(case.id), by_hash, client="reader")  # another client's upload cannot be named
    assert count(rgw, reply_deliveries) == 0
    reply = submit(rgw, str(case.id), by_hash, key="with-upload-0001").reply
    assert (reply.documents[0].sha512, reply.documents[0].size) == (digest, size)
    # the upload is used up now; the same request again is still the same reply
    assert submit(rgw, str(case.id), by_hash, key="with-upload-0001").reply.id == reply.id
    with pytest.raises(InvalidRequest, match="no pending upload"):
        submit(rgw, str(case.id), by_hash)  # a new reply cannot name it again
    assert blob_gc.collect(rgw.db, rgw.blobs, grace_seconds=0).kept >= 1
    assert rgw.blobs.get(f"sha512/{digest}") == uploaded  # the collector keeps a reply's documents
    rgw.worker.run_until_idle()
    assert fakes.email.delivered[reply.deliveries[0].id].documents[0].sha512 == digest


def test_a_crash_between_channel_and_commit_delivers_once_per_reply_and_channel(rgw: Gateway,
                                                                              fakes: Channels) -> None:
    case = email_case(rgw)
    reply = submit(rgw, str(case.id)).reply
    now = dt.datetime.now(dt.UTC)
    with rgw.db.transaction() as uow:  # a worker claims the row, the channel takes the reply ...
        [row] = outbox_repo.claim_due(uow.conn, now, now + dt.timedelta(seconds=1), 10)
    rgw.dispatcher.handlers["reply"].deliver(row)
    # ... and the worker dies before it records anything. Its lease runs out; another worker:
    rgw.dispatcher.clock = lambda: dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
    rgw.worker.run_until_idle()
    delivery = rgw.replies.reply(str(case.id), reply.id, None).deliveries
    assert [(d.channel, d.state) for d in delivery] == [("email", "sent")]
    assert fakes.email.calls == [reply.deliveries[0].id] * 2 and len(fakes.email.delivered) == 1
    assert "earlier attempt ended without a result" in (delivery[0].history[-1].note or "")
    with rgw.db.reading() as conn:
        assert conn.execute(select(func.count()).select_from(outbox).where(outbox.c.kind == "reply")).scalar_one() == 1


def test_reply_events_reach_the_webhooks_that_asked_for_them(tmp_path, profile_settings) -> None:  # type: ignore
    from gateway.config import WebhookConfig
    from tests.integration.replies.conftest import install_fakes

    settings = profile_settings.model_copy(update={"webhooks": [WebhookConfig(
        name="fach", url="http://127.0.0.1:9/hook", secret="s" * 32,
        events=["case.reply.sent", "case.reply.failed"])]})
    gw = Gateway.create(settings)
    try:
        install_fakes(gw)
        case = email_case(gw)
        submit(gw, str(case.id))
        gw.dispatcher.run_due()  # the reply; the webhook itself cannot be reached (port 9)
        with gw.db.reading() as conn:
            hooks = [r for r in outbox_repo.list_state(conn, "pending", 100) if r.kind == "webhook"]
        assert [h.payload["type"] for h in hooks] == ["case.reply.sent"]
        data = hooks[0].payload["data"]
        assert set(data) == {"case_id", "reference", "tenant", "service", "reply_id", "delivery_id", "channel",
                             "state", "remote_id"}
        assert "erika" not in str(hooks[0].payload)  # no recipient, no content in events
    finally:
        gw.close()

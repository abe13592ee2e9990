"""Pages and JSON of the sandbox postbox: what citizens would see in their BundID postbox and
in the application status monitor, plus the switch that makes the postbox refuse a mailbox.

``/postbox/`` (mailboxes), ``/postbox/{mailbox}`` (its messages, documents to download),
``/postbox/status-monitor``; JSON under ``/postbox/api/``: ``mailboxes``,
``mailboxes/{mailbox}/messages``, ``status-monitor``, ``rejected``, and
``PUT|DELETE mailboxes/{mailbox}/refusal`` (``*`` refuses every mailbox). TEST data only.
"""

from __future__ import annotations

import html
import uuid
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, HTMLResponse

from adapters.fitconnect.sandbox.postbox import FiledMessage, Postbox
from adapters.fitconnect.sandbox.state import Problem

PAGE_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
                "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
STYLE = "body{font-family:sans-serif;max-width:60em;margin:2em auto}article{border:1px solid #ccc;padding:1em;" \
        "margin:1em 0}pre{white-space:pre-wrap}"


def _mailbox(value: str, allow_all: bool = False) -> str:
    if allow_all and value == "*":
        return value
    try:
        return str(uuid.UUID(value)) if len(value) == 36 else _bad()
    except ValueError:
        return _bad()


def _bad() -> str:
    raise Problem(404, "mailbox-not-found", "No such mailbox")


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><html lang=de><meta charset=utf-8><title>{html.escape(title)}</title>"
                        f"<style>{STYLE}</style><h1>{html.escape(title)}</h1>{body}</html>", headers=PAGE_HEADERS)


def _article(message: FiledMessage) -> str:
    p, esc = message.payload, html.escape
    documents = "".join(
        f'<li><a href="/postbox/{message.mailbox}/messages/{message.id}/documents/{i}">{esc(d.filename)}</a> '
        f"({d.size} bytes)</li>" for i, d in enumerate(message.documents))
    return (f"<article><h2>{esc(p['title'])}</h2><p>from {esc(p['sender'])} &middot; {esc(p['service'])} &middot; "
            f"reference {esc(str(p.get('reference') or '-'))} &middot; received {esc(message.received_at)} &middot; "
            f"STORK-QAA level {int(p['stork_qaa_level'])}</p><pre>{esc(p['content'])}</pre>"
            f"<ul>{documents}</ul></article>")


def postbox_router(postbox: Postbox) -> APIRouter:
    router = APIRouter()

    @router.get("/postbox/api/mailboxes")
    def mailboxes() -> dict[str, Any]:
        return postbox.counts()

    @router.get("/postbox/api/mailboxes/{mailbox}/messages")
    def messages(mailbox: str) -> dict[str, Any]:
        found = postbox.messages(_mailbox(mailbox))
        return {"mailboxUuid": _mailbox(mailbox), "count": len(found), "messages": [m.summary() for m in found]}

    @router.get("/postbox/api/status-monitor")
    def status_monitor() -> dict[str, Any]:
        with postbox.lock:
            return {"applications": {k: list(v) for k, v in postbox.applications.items()}}

    @router.get("/postbox/api/rejected")
    def rejected() -> dict[str, Any]:
        with postbox.lock:
            return {"rejected": list(postbox.rejected)}

    @router.put("/postbox/api/mailboxes/{mailbox}/refusal", status_code=204)
    async def refuse(mailbox: str, request: Request) -> Response:
        body = await request.json() if await request.body() else {}
        detail = str(body.get("detail") or "refused on request (TEST)")[:200] if isinstance(body, dict) else ""
        postbox.refuse(_mailbox(mailbox, allow_all=True), detail or "refused on request (TEST)")
        return Response(status_code=204)

    @router.delete("/postbox/api/mailboxes/{mailbox}/refusal", status_code=204)
    def accept_again(mailbox: str) -> Response:
        with postbox.lock:
            postbox.refusals.pop(_mailbox(mailbox, allow_all=True), None)
        return Response(status_code=204)

    @router.get("/postbox/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        counts = postbox.counts()
        rows = "".join(f'<li><a href="/postbox/{m}">{m}</a>: {n} message(s)</li>'
                       for m, n in counts["mailboxes"].items())
        return _page("Citizen postbox (ZBP sandbox, TEST)",
                     f"<p>{counts['messages']} message(s), {counts['statusUpdates']} status update(s), "
                     f"{counts['rejected']} rejected. <a href=/postbox/status-monitor>Status monitor</a></p>"
                     f"<ul>{rows or '<li>no mailbox yet</li>'}</ul>")

    @router.get("/postbox/status-monitor", response_class=HTMLResponse)
    def status_page() -> HTMLResponse:
        esc = html.escape
        with postbox.lock:
            items = {k: list(v) for k, v in postbox.applications.items()}
        rows = "".join(f"<li>{esc(app)}: " + " &rarr; ".join(
            f"{esc(s['status'])} ({esc(s['publicServiceName']['de'])}, {esc(s['createdDate'])})" for s in states)
            + "</li>" for app, states in items.items())
        return _page("Application status monitor (ZBP sandbox, TEST)", f"<ul>{rows or '<li>nothing yet</li>'}</ul>")

    @router.get("/postbox/{mailbox}", response_class=HTMLResponse)
    def mailbox_page(mailbox: str) -> HTMLResponse:
        mailbox = _mailbox(mailbox)
        found = postbox.messages(mailbox)
        return _page(f"Postbox {mailbox} (TEST)", "".join(_article(m) for m in reversed(found))
                     or "<p>No messages.</p>")

    @router.get("/postbox/{mailbox}/messages/{message_id}/documents/{index}")
    def document(mailbox: str, message_id: str, index: int) -> FileResponse:
        for message in postbox.messages(_mailbox(mailbox)):
            if message.id == message_id and 0 <= index < len(message.documents):
                found = message.documents[index]
                return FileResponse(found.path, media_type=found.media_type, filename=found.filename,
                                    headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})
        raise Problem(404, "document-not-found", "No such document")

    return router

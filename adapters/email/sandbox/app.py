"""The SMTP sandbox as an ASGI app (entry point ``rathaus_gateway.sandboxes``: ``email``).

The app's lifespan starts the SMTP listener (aiosmtpd, loopback, STARTTLS with the TEST ONLY
certificate of ``fixtures/email/tls``) and stops it. The web side shows what arrived:

* ``GET /``                     mails per recipient (HTML); ``GET /messages/{id}`` one mail
* ``GET /api/messages[?recipient=]``, ``GET /api/messages/{id}``, ``GET /api/messages/{id}/raw``
* ``DELETE /api/messages``      empty the mailbox
* ``POST /api/faults``          ``{"stage": "RCPT", "code": 451, "text": "...", "count": 1,
  "recipient": null}``: the next matching transaction is answered with that reply;
  ``DELETE /api/faults`` removes them
* ``GET /healthz``              ``{"smtp": "127.0.0.1:8025"}``

Tests reach the mailbox through ``app.state.mail`` (a :class:`MailStore`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from adapters.email.sandbox.config import SandboxConfig, config_from_env
from adapters.email.sandbox.pages import mail_page, mailbox_page
from adapters.email.sandbox.smtpd import SmtpListener
from adapters.email.sandbox.store import Fault, MailStore


class FaultRequest(BaseModel):
    stage: Literal["MAIL", "RCPT", "DATA"]
    code: int = Field(ge=400, le=599)
    text: str = Field("Sandbox fault", max_length=200, pattern=r"^[\x20-\x7e]*$")
    count: int = Field(1, ge=1, le=1000)
    recipient: str | None = None


def create_app(config: SandboxConfig | None = None) -> FastAPI:
    config = config or config_from_env()
    store = MailStore(folder=config.mail_dir, max_messages=config.max_messages)
    listener = SmtpListener(config, store)
    smtp_address = f"{config.smtp_host}:{config.smtp_port}"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(listener.start)
        try:
            yield
        finally:
            await run_in_threadpool(listener.stop)

    app = FastAPI(title="SMTP sandbox (TEST ONLY)", lifespan=lifespan)
    app.state.mail = store
    app.state.config = config

    def _mail(mail_id: int) -> Any:
        mail = store.get(mail_id)
        if mail is None:
            raise HTTPException(404, "no such mail")
        return mail

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return mailbox_page(store.mails(), smtp_address)

    @app.get("/messages/{mail_id}", response_class=HTMLResponse)
    def show(mail_id: int) -> str:
        return mail_page(_mail(mail_id))

    @app.get("/api/messages")
    def messages(recipient: str | None = None) -> list[dict[str, Any]]:
        return [m.summary() for m in store.mails(recipient)]

    @app.get("/api/messages/{mail_id}")
    def message(mail_id: int) -> dict[str, Any]:
        summary: dict[str, Any] = _mail(mail_id).summary()
        return summary

    @app.get("/api/messages/{mail_id}/raw")
    def raw(mail_id: int) -> Response:
        return Response(_mail(mail_id).raw, media_type="message/rfc822")

    @app.delete("/api/messages", status_code=204)
    def clear() -> None:
        store.clear()

    @app.post("/api/faults", status_code=201)
    def add_fault(fault: FaultRequest) -> dict[str, Any]:
        store.add_fault(Fault(fault.stage, fault.code, fault.text, fault.count, fault.recipient))
        return fault.model_dump()

    @app.delete("/api/faults", status_code=204)
    def clear_faults() -> None:
        store.clear_faults()

    @app.get("/healthz")
    def health() -> dict[str, str]:
        return {"smtp": smtp_address}

    return app

"""A local XTA 2 Version 3 server: ``create_app()`` returns the ASGI app.

Three ports under ``/services/XTAService/`` (ManagementPort, MsgBoxPort, SendXtaPort),
SOAP 1.2 with WS-Addressing (Action and MessageID are required; the answer carries the
request's action, as in the published WSDL), the caller named by the ``oscimeta:Author``
header, MTOM/XOP in both directions, the WSDL at ``<port>?wsdl``. Requests are validated
against ``schemas/xta``; faults carry an XTA exception with its error number. Tests reach the
state through ``app.state.xta``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from adapters.xta import mtom
from adapters.xta.metadata import Party
from adapters.xta.ns import ANONYMOUS, OPERATIONS, OSCIMETA, SCHEMA_DIR, SOAP12_MEDIA_TYPE, WSA, XOP, q
from adapters.xta.sandbox.faults import fault_response, resolve_operation, wsa_fault
from adapters.xta.sandbox.operations import HANDLERS, Call
from adapters.xta.sandbox.pages import mailboxes_page, message_page
from adapters.xta.sandbox.store import Account, SandboxFault, SandboxState
from adapters.xta.soap import envelope, new_message_id, parse_envelope
from gateway.errors import InvalidPayload
from gateway.safexml_schemas import load_schema

MAX_REQUEST_BYTES = 256 * 1024 * 1024
WSDL_PLACEHOLDER = "https://xta.example.invalid"

SoapResult = tuple[int, bytes | Iterator[bytes | memoryview], str]  # a stream when content comes from files


def _validate(element: Any) -> None:
    if any(True for _ in element.iter(q(XOP, "Include"))):
        element = copy.deepcopy(element)  # binary content travels as parts; validate the rest
        for include in list(element.iter(q(XOP, "Include"))):
            include.getparent().remove(include)
    try:
        load_schema(SCHEMA_DIR / "xta-interface.xsd").validate(element, label="request")
    except InvalidPayload as exc:
        raise SandboxFault(f"request not valid against the XTA schema: {exc.detail}",
                           fault="ParameterIsNotValidException") from None


def handle_soap(state: SandboxState, port: str, body: bytes, content_type: str, *, mtom_responses: bool = True
                ) -> SoapResult:
    try:
        multipart = mtom.parse(body, content_type)
        env = parse_envelope(multipart.root.data)
    except InvalidPayload as exc:
        code = "VersionMismatch" if "SOAP 1.1" in exc.detail else "Sender"
        return fault_response(SandboxFault(f"malformed SOAP message: {exc.detail}"), None, soap_code=code)
    message_id = env.header_text(q(WSA, "MessageID"))
    # Action, and MessageID for a request that expects an answer, are required (WS-Addressing 1.0);
    # a missing To means the anonymous address, so it is not required.
    for header in ("Action", "MessageID"):
        if env.header_text(q(WSA, header)) is None:
            return wsa_fault("MessageAddressingHeaderRequired", f"wsa:{header} header missing", message_id,
                             problem_header=f"wsa:{header}")
    reply_to = env.header_text(f"{q(WSA, 'ReplyTo')}/{q(WSA, 'Address')}")
    if reply_to is not None and reply_to != ANONYMOUS:
        return wsa_fault("OnlyAnonymousAddressSupported", "only anonymous ReplyTo is supported", message_id)
    requested = env.header_text(q(WSA, "Action")) or ""
    operation = resolve_operation(requested)
    if operation is None or OPERATIONS[operation][0] != port:
        return wsa_fault("ActionNotSupported", f"action not supported at {port}", message_id)
    handler, expected = HANDLERS[operation]
    action = OPERATIONS[operation][1]
    try:
        payload = env.payload
        if (payload.tag if payload is not None else None) != expected:
            raise SandboxFault(f"body element does not match the action of {operation}",
                               fault="ParameterIsNotValidException")
        author_el = env.header.find(q(OSCIMETA, "Author")) if env.header is not None else None
        for element in [payload, author_el,
                        env.header.find(q(OSCIMETA, "MessageMetaData")) if env.header is not None else None]:
            if element is not None:
                _validate(element)
        state.calls[operation] += 1
        state.actions[requested] += 1
        state.take_injected(operation)
        author = Party.from_xml(author_el, "Author") if author_el is not None else None
        reply = handler(Call(state, env, multipart.parts, author, mtom_responses))
    except SandboxFault as fault:
        return fault_response(fault, message_id, action=action)
    except InvalidPayload as exc:
        return fault_response(SandboxFault(exc.detail, fault="ParameterIsNotValidException"), message_id,
                              action=action)
    # The answer carries the operation's action (the published WSDL gives input and output the same).
    xml = envelope(action=action, message_id=new_message_id(), to=ANONYMOUS,
                   headers=reply.headers, body=reply.body, relates_to=message_id)
    if any(isinstance(part.data, Path) for part in reply.parts):
        chunks, ctype = mtom.build_stream(xml, reply.parts, action=action)
        return 200, chunks, ctype
    if reply.parts:
        data, ctype = mtom.build(xml, reply.parts, action=action)
        return 200, data, ctype
    return 200, xml, f"{SOAP12_MEDIA_TYPE}; charset=utf-8"


def create_app(*, accounts: Mapping[str, Account] | None = None, mtom_responses: bool = True,
               state: SandboxState | None = None) -> Starlette:
    """The sandbox app. ``accounts`` None accepts every author (the ``make run`` default)."""
    state = state or SandboxState(accounts=dict(accounts) if accounts is not None else None)

    async def soap(request: Request) -> Response:
        port = request.path_params["port"]
        if port not in {p for p, _ in OPERATIONS.values()}:
            return Response("unknown port", status_code=404)
        if int(request.headers.get("content-length") or 0) > MAX_REQUEST_BYTES:
            return Response("request too large", status_code=413)
        body = await request.body()
        status, data, ctype = await run_in_threadpool(
            handle_soap, state, port, body, request.headers.get("content-type", ""), mtom_responses=mtom_responses)
        if not isinstance(data, bytes):
            return StreamingResponse(data, status_code=status, media_type=None, headers={"content-type": ctype})
        return Response(data, status_code=status, media_type=None, headers={"content-type": ctype})

    async def wsdl(request: Request) -> Response:
        port = request.path_params["port"]
        if "wsdl" not in request.query_params or port not in {p for p, _ in OPERATIONS.values()}:
            return Response("append ?wsdl for the service description", status_code=404)
        base = str(request.base_url).rstrip("/")
        text = (SCHEMA_DIR / "XTA.wsdl").read_text("utf-8").replace(WSDL_PLACEHOLDER, base)
        return Response(text, media_type="text/xml")

    async def schema(request: Request) -> Response:
        name = request.path_params["name"] + ".xsd"
        path = SCHEMA_DIR / name
        if "/" in name or not path.is_file():
            return Response("no such schema", status_code=404)
        return Response(path.read_bytes(), media_type="text/xml")

    async def messages(request: Request) -> JSONResponse:
        # Introspection for the demo and tests: ids and state only, never content.
        with state.lock:
            items = [{"messageId": mid, "reader": m.metadata.reader.value, "author": m.metadata.author.value,
                      "messageType": m.metadata.message_type.code, "inReplyTo": list(m.metadata.in_reply_to),
                      "attachments": len(m.attachments), "fetched": m.fetched, "closed": m.closed}
                     for mid, m in state.messages.items()]
        return JSONResponse(items)

    async def mailboxes(request: Request) -> HTMLResponse:
        return HTMLResponse(mailboxes_page(state))

    async def message(request: Request) -> Response:
        message_id = request.path_params["message_id"]
        with state.lock:
            found = state.messages.get(message_id)
        if found is None:
            return Response("no such message", status_code=404)
        return HTMLResponse(message_page(message_id, found))

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    app = Starlette(routes=[
        Route("/services/XTAService/{name}.xsd", schema, methods=["GET"]),
        Route("/services/XTAService/{port}", soap, methods=["POST"]),
        Route("/services/XTAService/{port}", wsdl, methods=["GET"]),
        Route("/sandbox/messages", messages, methods=["GET"]),
        Route("/sandbox/messages/{message_id:path}", message, methods=["GET"]),
        Route("/sandbox/mailboxes", mailboxes, methods=["GET"]),
        Route("/", mailboxes, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
    ])
    app.state.xta = state
    return app

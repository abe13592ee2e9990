"""The sandbox's mailboxes as HTML pages, for people watching `make run`: per reader (mailbox)
what arrived, from whom, of which type, in answer to which message, and whether the reader
fetched and closed it; one message with its payload and attachments. TEST/DEMO ONLY."""

from __future__ import annotations

from html import escape
from pathlib import Path
from urllib.parse import quote

from adapters.xta.sandbox.store import SandboxState, StoredMessage

_STYLE = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;width:100%}"
          "td,th{border-bottom:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}"
          "pre{background:#f4f4f4;padding:1em;white-space:pre-wrap;word-break:break-all}")
MAX_SHOWN_BYTES = 256 * 1024


def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html lang='de'><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body><h1>{escape(title)}</h1>"
            "<p><em>XTA sandbox, TEST ONLY. JSON: <a href='/sandbox/messages'>/sandbox/messages</a></em></p>"
            f"{body}</body></html>")


def _state(message: StoredMessage) -> str:
    return "closed" if message.closed else "fetched" if message.fetched else "open"


def mailboxes_page(state: SandboxState) -> str:
    with state.lock:
        messages = list(state.messages.items())
    readers = sorted({m.metadata.reader.value for _, m in messages})
    sections = []
    for reader in readers:
        rows = [
            f"<tr><td><a href='/sandbox/messages/{quote(mid, safe='')}'>{escape(mid)}</a></td>"
            f"<td>{escape(m.received_at.isoformat()[:19])}</td><td>{escape(m.metadata.author.value)}</td>"
            f"<td>{escape(m.metadata.message_type.code)}</td><td>{escape(m.metadata.subject or '')}</td>"
            f"<td>{escape(', '.join(m.metadata.in_reply_to))}</td><td>{len(m.attachments)}</td>"
            f"<td>{_state(m)}</td></tr>"
            for mid, m in sorted(messages, key=lambda item: item[1].received_at, reverse=True)
            if m.metadata.reader.value == reader]
        sections.append(f"<h2 id='{escape(reader)}'>Mailbox {escape(reader)}</h2><table><tr><th>MessageID</th>"
                        "<th>arrived</th><th>author</th><th>MessageType</th><th>subject</th><th>in reply to</th>"
                        "<th>attachments</th><th>state</th></tr>" + "".join(rows) + "</table>")
    return _page("XTA sandbox: mailboxes", "".join(sections) or "<p>No messages yet.</p>")


def message_page(message_id: str, message: StoredMessage) -> str:
    meta = message.metadata
    data = message.message.data
    if isinstance(data, Path):  # a large message put in by a benchmark: its beginning only
        with data.open("rb") as handle:
            data = handle.read(MAX_SHOWN_BYTES)
    shown = data[:MAX_SHOWN_BYTES].decode("utf-8", "replace")
    attachments = "".join(f"<li>{escape(a.filename or '')} ({escape(a.media_type)}, {a.size} bytes)</li>"
                          for a in message.attachments)
    return _page(f"XTA message {message_id}", (
        f"<p>from {escape(meta.author.value)} to {escape(meta.reader.value)}, type "
        f"{escape(meta.message_type.code)} ({escape(meta.payload_schema)}), subject {escape(meta.subject or '-')}, "
        f"in reply to {escape(', '.join(meta.in_reply_to) or '-')}, {_state(message)}</p>"
        f"<h2>Message ({escape(message.message.media_type)})</h2><pre>{escape(shown)}</pre>"
        f"<h2>Attachments</h2><ul>{attachments or '<li>none</li>'}</ul>"))

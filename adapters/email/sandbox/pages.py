"""The sandbox mailbox as HTML: mails per recipient, and one mail with its headers and text."""

from __future__ import annotations

from collections import defaultdict
from html import escape

from adapters.email.sandbox.store import StoredMail

_STYLE = ("body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse;width:100%}"
          "td,th{border-bottom:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}"
          "pre{background:#f5f5f5;padding:1em;white-space:pre-wrap}.tag{font-size:.8em;padding:0 .4em;"
          "border-radius:.3em;background:#e0e0e0}.enc{background:#c8e6c9}")


def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html lang='de'><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body><h1>{escape(title)}</h1>"
            "<p><em>SMTP sandbox - TEST ONLY. Nothing here leaves this machine.</em></p>"
            f"{body}</body></html>")


def mailbox_page(mails: list[StoredMail], smtp_address: str) -> str:
    by_recipient: dict[str, list[StoredMail]] = defaultdict(list)
    for mail in mails:
        for rcpt in mail.rcpt_tos:
            by_recipient[rcpt.casefold()].append(mail)
    parts = [f"<p>SMTP: <code>{escape(smtp_address)}</code> (STARTTLS required) - "
             f"{len(mails)} mail(s) - JSON: <a href='/api/messages'>/api/messages</a></p>"]
    if not mails:
        parts.append("<p>No mail received yet.</p>")
    for recipient in sorted(by_recipient):
        rows = []
        for mail in reversed(by_recipient[recipient]):
            info = mail.summary()
            tags = ("<span class='tag enc'>PGP/MIME</span> " if info["encrypted"] else "") + (
                "<span class='tag'>TLS</span>" if info["tls"] else "<span class='tag'>no TLS</span>")
            rows.append(f"<tr><td><a href='/messages/{mail.id}'>#{mail.id}</a></td>"
                        f"<td>{escape(info['received_at'][:19])}</td><td>{escape(info['subject'])}</td>"
                        f"<td><code>{escape(info['message_id'])}</code></td><td>{tags}</td>"
                        f"<td>{info['size']}</td></tr>")
        parts.append(f"<h2>{escape(recipient)} ({len(rows)})</h2><table><tr><th>#</th><th>received</th>"
                     "<th>subject</th><th>Message-ID</th><th></th><th>bytes</th></tr>" + "".join(rows) + "</table>")
    return _page("Mailbox", "".join(parts))


def mail_page(mail: StoredMail) -> str:
    msg = mail.parsed()
    headers = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in msg.items())
    sections = [f"<p><a href='/'>all mail</a> - <a href='/api/messages/{mail.id}/raw'>raw (.eml)</a></p>",
                f"<table>{headers}</table>"]
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        name = part.get_filename()
        armored = ctype == "application/octet-stream" and msg.get_content_type() == "multipart/encrypted"
        if ctype == "text/plain" or armored:
            payload = part.get_payload(decode=True)
            text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
            sections.append(f"<h3>{escape(ctype)}</h3><pre>{escape(text)}</pre>")
        else:
            sections.append(f"<h3>{escape(ctype)}</h3><p>{escape(name or '(no file name)')}</p>")
    return _page(f"Mail #{mail.id}", "".join(sections))

"""The sandbox's letters as an HTML page (what the letter shop got, and where each letter is)."""

from __future__ import annotations

from html import escape

from adapters.hybridmail.sandbox.state import EPostSandbox

_STYLE = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;width:100%}"
          "td,th{border-bottom:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}"
          ".s99{color:#b00020}.s4{color:#1b5e20}")


def letters_page(sandbox: EPostSandbox) -> str:
    rows = []
    for letter in sorted(sandbox.letters.values(), key=lambda x: -x.letter_id):
        status = sandbox.status(letter)
        f = letter.fields
        address = "<br>".join(escape(str(f[k])) for k in ("addressLine1", "addressLine2", "addressLine3",
                                                           "addressLine4", "addressLine5") if f.get(k))
        place = escape(f"{f.get('zipCode', '')} {f.get('city', '')}") + (
            f"<br>{escape(str(f['country']))}" if f.get("country") else "")
        rows.append(
            f"<tr><td>{letter.letter_id}</td><td>{escape(letter.created_at.isoformat()[:19])}</td>"
            f"<td><a href='/sandbox/letters/{letter.letter_id}.pdf'>{escape(str(f.get('fileName')))}</a></td>"
            f"<td>{address}<br>{place}</td><td>{letter.pages}</td>"
            f"<td class='s{status['statusID']}'>{status['statusID']} {escape(status['statusDetails'])}</td>"
            f"<td>{'test' if letter.test_flag else ''}</td><td>{escape(str(f.get('custom2') or ''))}</td></tr>")
    body = ("<table><tr><th>letterID</th><th>uploaded</th><th>file</th><th>recipient</th><th>pages</th>"
            "<th>status</th><th></th><th>reference</th></tr>" + "".join(rows) + "</table>") if rows else (
        "<p>No letters yet.</p>")
    return ("<!doctype html><html lang='de'><head><meta charset='utf-8'><title>E-POST sandbox</title>"
            f"<style>{_STYLE}</style></head><body><h1>E-POST hybrid mail sandbox</h1>"
            "<p><em>TEST ONLY. Nothing is printed or posted. JSON: <a href='/sandbox/letters'>/sandbox/letters"
            f"</a>; status advances every {sandbox.config.step_seconds:g} s.</em></p>{body}</body></html>")

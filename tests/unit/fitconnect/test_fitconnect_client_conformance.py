"""Our client against the published Submission API: paged event log, callback bodies, JWE kids."""

from __future__ import annotations

import json

import httpx
import orjson
import pytest
from joserfc import jwe

from adapters.fitconnect import jose, testing
from adapters.fitconnect.api import EVENTS_PAGE, SubmissionApi
from adapters.fitconnect.callback import CALLBACK_TYPE, parse_announcements
from adapters.fitconnect.keys import DestinationKeys, jose_key
from adapters.fitconnect.sandbox.callbacks import NEW_EVENTS_TYPE, callback_body
from adapters.fitconnect.sandbox.config import DEMO_DESTINATION, load_jwk
from adapters.fitconnect.sandbox.state import StoredSubmission

CASE = "9eec7d3e-dc66-4f82-9f52-1520bf96a32e"
SUBMISSION = "f39ab143-d91a-474a-b69f-b00f1a1873c2"


class NoTokens:
    def token(self) -> str:
        return "t"

    def invalidate(self) -> None:
        pass


def paged_events(total: int, seen: list[dict[str, str]]) -> httpx.MockTransport:
    """An event log of ``total`` SETs served in pages as the Submission API serves them."""
    log = [f"e{i}.p.s" for i in range(total)]

    def handle(request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        seen.append(params)
        offset, limit = int(params.get("offset", 0)), min(int(params.get("limit", 100)), 2)  # a small server page
        page = log[offset: offset + limit]
        return httpx.Response(200, json={"count": len(page), "offset": offset, "totalCount": total, "eventLog": page})
    return httpx.MockTransport(handle)


def api_with(transport: httpx.MockTransport) -> SubmissionApi:
    return SubmissionApi("http://z", NoTokens(), httpx.Client(transport=transport))  # type: ignore[arg-type]


def test_a_long_event_log_is_read_page_by_page() -> None:
    seen: list[dict[str, str]] = []
    api = api_with(paged_events(5, seen))
    assert api.get_events(CASE, SUBMISSION) == [f"e{i}.p.s" for i in range(5)]
    assert [p["offset"] for p in seen] == ["0", "2", "4"] and {p["limit"] for p in seen} == {str(EVENTS_PAGE)}
    combined = orjson.loads(api.get_events_raw(CASE, SUBMISSION))
    assert combined["totalCount"] == 5 and combined["count"] == 5 and len(combined["eventLog"]) == 5


def test_a_log_of_one_page_is_kept_byte_for_byte() -> None:
    body = b'{"count":1,"offset":0,"totalCount":1,"eventLog":["a.b.c"]}'
    api = api_with(httpx.MockTransport(lambda request: httpx.Response(200, content=body)))
    assert api.get_events_raw(CASE, SUBMISSION) == body


def test_callback_with_only_the_deprecated_submission_ids() -> None:
    body = orjson.dumps({"type": CALLBACK_TYPE, "submissionIds": [SUBMISSION, "not-a-uuid"]})
    assert parse_announcements(body, DEMO_DESTINATION) == [{"submissionId": SUBMISSION, "caseId": ""}]
    both = orjson.dumps({"type": CALLBACK_TYPE, "submissionIds": [SUBMISSION],
                         "submissions": [{"destinationId": DEMO_DESTINATION, "submissionId": SUBMISSION,
                                          "caseId": CASE}]})
    assert parse_announcements(both, DEMO_DESTINATION) == [{"submissionId": SUBMISSION, "caseId": CASE}]


@pytest.mark.parametrize("kind", [CALLBACK_TYPE, NEW_EVENTS_TYPE])
def test_sandbox_callbacks_carry_both_lists(kind: str) -> None:
    sub = StoredSubmission(SUBMISSION, CASE, DEMO_DESTINATION, {}, [])
    value = json.loads(callback_body(kind, [sub]))
    assert value == {"type": kind, "submissionIds": [SUBMISSION],
                     "submissions": [{"destinationId": DEMO_DESTINATION, "submissionId": SUBMISSION, "caseId": CASE}]}


def test_jwe_naming_its_key_by_thumbprint_is_decrypted() -> None:
    """The PyPI client libraries put the RFC 7638 thumbprint into the JWE kid, and compress (zip DEF)."""
    keys = DestinationKeys.load([testing.KEY_DIR / "tangerhuette-enc-2026.jwk.json",
                                 testing.KEY_DIR / "tangerhuette-enc-2027.jwk.json"],
                                testing.KEY_DIR / "tangerhuette-sig-2026.jwk.json")
    public = jose_key(keys.decryption["tangerhuette-enc-2027"].public_jwk)
    registry = jose.FitConnectJWERegistry(10**6, 10**6)
    header = {"alg": "RSA-OAEP-256", "enc": "A256GCM", "zip": "DEF", "typ": "JWE", "cty": "application/json",
              "kid": public.thumbprint()}
    token = jwe.encrypt_compact(header, b'{"ok": true}', public, registry=registry)
    assert jose.decrypt(token, keys.for_kid, registry) == b'{"ok": true}'
    assert keys.for_kid(public.thumbprint()) is keys.decryption["tangerhuette-enc-2027"].key
    assert keys.for_kid("tangerhuette-enc-2026") is keys.decryption["tangerhuette-enc-2026"].key
    other = jose_key(load_jwk("landkreis-enc-2026.jwk.json"))
    assert keys.for_kid(other.thumbprint()) is None and keys.for_kid(None) is None

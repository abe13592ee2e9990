"""The E-POST client against fakes: tokens and their renewal, error mapping, throttling, batches."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from adapters.hybridmail import testing
from adapters.hybridmail.client import EPostClient
from adapters.hybridmail.errors import EPostAccountUnusable, EPostUnavailable, LetterRejected, UnknownLetter
from adapters.hybridmail.wire import LetterMetadata, LetterUpload
from gateway.errors import PermanentError, TransientError

Handler = Callable[[httpx.Request], httpx.Response]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class FakeApi:
    """Records requests; answers logins with numbered tokens and everything else with ``answer``."""

    def __init__(self, answer: Handler) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []
        self.logins = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        if request.url.path == "/api/Login":
            self.logins += 1
            return httpx.Response(200, json={"token": f"token-{self.logins}"})
        return self.answer(request)


def client(api: FakeApi, clock: Clock | None = None, **options: object) -> EPostClient:
    clock = clock or Clock()
    http = httpx.Client(base_url="https://epost.example.invalid", transport=httpx.MockTransport(api))
    return EPostClient(testing.options("https://epost.example.invalid", **options), http, clock=clock,
                       sleep=clock.sleep)


def status_json(letter_id: int = 7, status_id: int = 1) -> dict[str, object]:
    return {"letterID": letter_id, "statusID": status_id, "fileName": "rg-x.pdf"}


def test_login_sends_the_credentials_and_the_token_is_reused() -> None:
    api = FakeApi(lambda r: httpx.Response(200, json=status_json()))
    epost = client(api, token_minutes=30)
    epost.status(7)
    epost.status(7)
    login = json.loads(api.requests[0].content)
    assert login == {"vendorID": "rathaus-gateway-demo", "ekp": "5012345678",
                     "secret": "sandbox-epost-secret-0123456789", "password": "sandbox-epost-password-0123456789",
                     "tokenDuration": 30}
    assert api.logins == 1
    assert [r.headers["Authorization"] for r in api.requests[1:]] == ["Bearer token-1"] * 2


def test_the_token_is_renewed_before_it_expires() -> None:
    api = FakeApi(lambda r: httpx.Response(200, json=status_json()))
    clock = Clock()
    epost = client(api, clock, token_minutes=10, renew_before_seconds=60)
    epost.status(7)
    clock.now += 10 * 60 - 61
    epost.status(7)
    assert api.logins == 1
    clock.now += 2
    epost.status(7)
    assert api.logins == 2 and api.requests[-1].headers["Authorization"] == "Bearer token-2"


def test_a_401_logs_in_again_once() -> None:
    answers = iter([httpx.Response(401), httpx.Response(200, json=status_json())])
    api = FakeApi(lambda r: next(answers))
    assert client(api).status(7).letter_id == 7
    assert api.logins == 2
    always = FakeApi(lambda r: httpx.Response(401, json={"level": "Error", "code": "E402", "description": "x"}))
    with pytest.raises(EPostAccountUnusable, match="HTTP 401 \\(E402\\)"):
        client(always).status(7)
    assert always.logins == 2


def test_a_refused_login_is_an_account_problem() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"level": "Error", "code": "E401", "description": "login failed"})

    http = httpx.Client(base_url="https://e.invalid", transport=httpx.MockTransport(refuse))
    with pytest.raises(EPostAccountUnusable) as caught:
        EPostClient(testing.options("https://e.invalid"), http).login()
    assert isinstance(caught.value, TransientError)


@pytest.mark.parametrize(("response", "error", "kind"), [
    (httpx.Response(500), EPostUnavailable, TransientError),
    (httpx.Response(503, text="<html>maintenance</html>"), EPostUnavailable, TransientError),
    (httpx.Response(429, headers={"Retry-After": "30"}), EPostUnavailable, TransientError),
    (httpx.Response(404, json={"level": "Error", "code": "E404", "description": "no"}), UnknownLetter,
     PermanentError),
    (httpx.Response(400, json={"level": "Error", "code": "E921", "description": "Erika Mustermann wrong"}),
     LetterRejected, PermanentError),
])
def test_answers_map_onto_gateway_errors(response: httpx.Response, error: type[Exception],
                                         kind: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        client(FakeApi(lambda r: response)).status(7)
    assert isinstance(caught.value, kind)
    assert "Mustermann" not in str(caught.value)


def test_429_carries_retry_after() -> None:
    with pytest.raises(EPostUnavailable) as caught:
        client(FakeApi(lambda r: httpx.Response(429, headers={"Retry-After": "30"}))).status(7)
    assert caught.value.extensions["retry_after"] == 30.0


def test_network_errors_and_timeouts_are_outages() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(EPostUnavailable, match="in time"):
        client(FakeApi(timeout)).status(7)
    with pytest.raises(EPostUnavailable, match="not reachable"):
        client(FakeApi(refused)).status(7)


def test_unreadable_answers_are_outages() -> None:
    with pytest.raises(EPostUnavailable, match="not a letter status"):
        client(FakeApi(lambda r: httpx.Response(200, text="<html/>"))).status(7)
    with pytest.raises(EPostUnavailable, match="not a list"):
        client(FakeApi(lambda r: httpx.Response(200, json={"x": 1}))).status_query([7])


def test_status_requests_keep_their_distance() -> None:
    clock = Clock()
    api = FakeApi(lambda r: httpx.Response(200, json=[status_json()]))
    epost = client(api, clock, min_status_interval_seconds=5)
    epost.status_query([7])
    clock.now += 2
    epost.status_query([7])
    epost.find_by_custom1("r-1")
    assert clock.slept == [3.0, 5.0]
    assert api.requests[-1].url.params["custom1"] == "r-1"
    assert json.loads(api.requests[1].content) == [7] and api.requests[1].url.params["onlyIssues"] == "false"


def uploads(tmp_path: Path, count: int, size: int = 300) -> list[LetterUpload]:
    result = []
    for n in range(count):
        pdf = tmp_path / f"{n}.pdf"
        pdf.write_bytes(b"%PDF-" + b"x" * (size - 5))
        metadata = LetterMetadata.for_recipient(testing.ERIKA, testing.options("https://x.invalid").sender,
                                                fileName=f"rg-{n:04d}.pdf")
        result.append(LetterUpload(metadata=metadata, pdf=pdf, size=size))
    return result


def test_an_upload_streams_with_a_known_length_and_is_repeated_whole_after_a_401(tmp_path: Path) -> None:
    letters = uploads(tmp_path, 2)
    answers = iter([httpx.Response(401), httpx.Response(200, json=[
        {"fileName": "rg-0000.pdf", "letterID": 1}, {"fileName": "rg-0001.pdf", "letterID": 2}])])
    api = FakeApi(lambda r: next(answers))
    results = client(api).upload(letters)
    assert [(r.file_name, r.letter_id) for r in results] == [("rg-0000.pdf", 1), ("rg-0001.pdf", 2)]
    first, second = api.requests[1], api.requests[3]
    assert first.content == second.content and len(json.loads(second.content)) == 2
    assert second.headers["Content-Length"] == str(len(second.content))
    assert "Transfer-Encoding" not in second.headers


def test_an_upload_answer_must_name_every_letter(tmp_path: Path) -> None:
    api = FakeApi(lambda r: httpx.Response(200, json=[{"fileName": "rg-0000.pdf", "letterID": 1}]))
    with pytest.raises(EPostUnavailable, match="does not name every"):
        client(api).upload(uploads(tmp_path, 2))


def test_batches_respect_count_and_byte_limits(tmp_path: Path) -> None:
    letters = uploads(tmp_path, 5, size=3000)
    by_count = client(FakeApi(lambda r: httpx.Response(500)), max_letters_per_request=2)
    assert [len(b) for b in by_count.batches(letters)] == [2, 2, 1]
    one_letter = letters[0].encoded_length()
    by_bytes = client(FakeApi(lambda r: httpx.Response(500)), max_request_bytes=2 * one_letter + 10)
    assert [len(b) for b in by_bytes.batches(letters)] == [2, 2, 1]
    with pytest.raises(ValueError, match="alone exceeds"):
        list(client(FakeApi(lambda r: httpx.Response(500)), max_request_bytes=100).batches(letters))

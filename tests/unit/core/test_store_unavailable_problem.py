"""A database that cannot be reached answers 503 problem+json with Retry-After (issue 13 item 7:
a restarted PostgreSQL is an outage to wait out), while any other unexpected error stays a 500."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import InterfaceError, OperationalError

from gateway.api import openapi, problems
from gateway.errors import PROBLEM_BASE


def app() -> FastAPI:
    api = FastAPI()
    problems.install(api)
    openapi.install(api)

    @api.get("/operational")
    def operational() -> None:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))

    @api.get("/interface")
    def interface() -> None:
        raise InterfaceError("SELECT 1", {}, ConnectionResetError("the connection is closed"))

    @api.get("/other")
    def other() -> None:
        raise RuntimeError("a bug")

    return api


def test_a_database_that_cannot_be_reached_is_a_503_problem() -> None:
    with TestClient(app(), raise_server_exceptions=False) as client:
        for path in ("/operational", "/interface"):
            response = client.get(path)
            assert response.status_code == 503
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["retry-after"] == str(problems.STORE_RETRY_AFTER_SECONDS)
            body = response.json()
            assert body["type"] == PROBLEM_BASE + "store-unavailable"
            assert body["instance"] == path
            assert "SELECT" not in response.text and "refused" not in response.text, "no driver details leave"
        assert client.get("/other").status_code == 500


def test_every_operation_declares_the_503() -> None:
    document = app().openapi()
    for operations in document["paths"].values():
        for operation in operations.values():
            assert operation["responses"]["503"]["content"]["application/problem+json"]

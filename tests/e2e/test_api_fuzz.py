"""Schemathesis against the gateway's own OpenAPI document, over HTTP, authenticated as each
kind of client (portal backend, local processing, admin): no answer is a 5xx, and every answer
matches what the document declares for it (status code, content type, body schema).

Bounded and reproducible: a fixed number of examples per operation and hypothesis's
derandomized generation (the same cases on every run)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks

from gateway.config import TokenLimits
from tests.e2e.conftest import Api, running_gateway

EXAMPLES = 50  # per operation, client and generation mode (positive, negative)
CLIENTS = ("portal", "fach", "admin")
CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_schema_conformance]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    # the fuzzed token endpoint must not lock the clients out of the rest of the run
    limits = TokenLimits(requests_per_minute=10_000, max_failures_per_client=10_000,
                         max_failures_per_address=10_000)
    with running_gateway(tmp_path_factory.mktemp("fuzz"), token_limits=limits) as api:
        for client in CLIENTS:
            api.token(client)
        yield api


@pytest.fixture(scope="module")
def api_schema(served: Api) -> Any:
    return schemathesis.openapi.from_url(served.base + "/openapi.json")


def _fuzz_operation(operation: Any, mode: GenerationMode, served: Api, client: str) -> str | None:
    """Runs the bounded examples of one operation; the first failure, described, or None."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=served.base, headers=served.auth(client), checks=CHECKS)

    try:
        run()
    except Unsatisfiable:  # nothing of the operation can be made invalid (no parameters, free-form body)
        return None
    except Exception as exc:  # a check failed: report it with the operation, go on with the others
        return f"{operation.method.upper()} {operation.path} ({mode.value}): {exc}"
    return None


@pytest.mark.parametrize("client", CLIENTS)
def test_no_server_errors_and_answers_as_documented(api_schema: Any, served: Api, client: str) -> None:
    failures = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15, "the OpenAPI document lost operations"
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failure = _fuzz_operation(operation, mode, served, client)
            if failure:
                failures.append(failure)
    assert not failures, "\n\n".join(failures)

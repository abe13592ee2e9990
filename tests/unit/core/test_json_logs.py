"""The gateway's log lines: JSON with role and correlation id, exceptions without their message,
access lines without the client's address and query string."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Iterator

import pytest

from gateway.logs import correlation
from gateway.logs.setup import AccessLogFilter, CorrelationFilter, JsonFormatter, config


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(role="worker"))
    handler.addFilter(CorrelationFilter())
    logger = logging.getLogger("test.json-logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_record_is_one_json_line_with_role_and_correlation_id(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    with correlation.bound("msg-0001-abcdef"):
        logger.info("case %s committed", "TGH-2026-000001")
    logger.warning("no message at hand")
    first, second = lines(stream)
    assert first["message"] == "case TGH-2026-000001 committed" and first["level"] == "INFO"
    assert (first["role"], first["correlation_id"], first["logger"]) == ("worker", "msg-0001-abcdef",
                                                                        "test.json-logs")
    assert second["correlation_id"] is None and "time" in second and "process" in second


def test_an_exception_is_logged_with_its_stack_but_never_its_message(
        captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    name, born = "Erika Mustermann", "geboren am 29.02.1980 in Stendal"  # the stack shows source lines, not values
    try:
        try:
            raise KeyError(name)
        except KeyError as inner:
            raise ValueError(born) from inner
    except ValueError:
        logger.exception("mapping failed")
    [record] = lines(stream)
    text = json.dumps(record, ensure_ascii=False)
    assert "Erika" not in text and "1980" not in text and "Stendal" not in text
    trace = str(record["exc_info"])
    assert "builtins.ValueError (message withheld" in trace and "builtins.KeyError (message withheld" in trace
    assert "test_json_logs.py" in trace, "the stack stays"


def test_non_ascii_is_written_as_it_is(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    logger.info("Einheitsgemeinde Stadt Tangerhütte")
    assert "Tangerhütte" in stream.getvalue()


def test_the_access_line_keeps_method_path_and_status_only() -> None:
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("203.0.113.7:51234", "GET", "/v1/cases?reference=TGH-1&name=Erika", "1.1", 200), None)
    assert AccessLogFilter().filter(record)
    assert record.getMessage() == "GET /v1/cases 200"


def test_the_configuration_routes_uvicorn_through_the_json_handler() -> None:
    settings = config("INFO", "api")
    assert settings["loggers"]["uvicorn.access"]["filters"] == ["access"]
    assert settings["handlers"]["stderr"]["filters"] == ["correlation"]
    assert settings["formatters"]["json"]["role"] == "api"
    assert settings["loggers"]["httpx"]["level"] == "WARNING"

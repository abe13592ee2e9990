"""Logging of the gateway's processes: one JSON object per line on stderr
(python-json-logger), each naming the time, level, logger, process, its role (``api`` or
``worker``) and the correlation id bound at the time (:mod:`gateway.logs.correlation`).

No personal data: the messages of the gateway and its adapters carry ids, types and counts only;
what could carry more is cut here — an exception is logged with its class and stack but never
its message (an error's detail may quote a value of the application), and uvicorn's access log
keeps method, path and status without the client's address and the query string.
"""

from __future__ import annotations

import logging
import logging.config
import traceback
from types import TracebackType
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from gateway.logs import correlation

FIELDS = ["levelname", "name", "process", "message"]
RENAMED = {"levelname": "level", "name": "logger"}
QUIET = ("httpx", "httpcore")  # a line per HTTP request of an adapter: noise at INFO

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def withheld(exc: BaseException) -> str:
    """An exception's chain with stacks and classes, without any message."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        name = f"{type(current).__module__}.{type(current).__qualname__}"
        parts.append("Traceback (most recent call last):\n" + "".join(traceback.format_tb(current.__traceback__))
                     + f"{name} (message withheld: it may quote personal data)")
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return "\n\nwhile handling this other one:\n".join(parts)


class JsonFormatter(_JsonFormatter):
    def __init__(self, role: str = "gateway") -> None:
        super().__init__(FIELDS, rename_fields=RENAMED, timestamp="time", static_fields={"role": role},
                         json_ensure_ascii=False)

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        exc = ei[1] if isinstance(ei, tuple) else None
        return withheld(exc) if isinstance(exc, BaseException) else ""

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        log_data.pop("color_message", None)  # uvicorn's coloured copy of the message
        return log_data


class CorrelationFilter(logging.Filter):
    """Names the correlation id bound where the record was made."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = correlation.current()
        return True


class AccessLogFilter(logging.Filter):
    """uvicorn's access line without the client's address and the query string (a citizen's
    address; a SAML message or a search term)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:
            _, method, path, _, status = args
            record.msg, record.args = "%s %s %s", (method, str(path).split("?", 1)[0], status)
        return True


def config(level: str = "INFO", role: str = "gateway") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` configuration (also uvicorn's ``log_config``)."""
    handler = {"handlers": ["stderr"], "level": level, "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"correlation": {"()": CorrelationFilter}, "access": {"()": AccessLogFilter}},
        "formatters": {"json": {"()": JsonFormatter, "role": role}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                                "formatter": "json", "filters": ["correlation"]}},
        "loggers": {"uvicorn": handler, "uvicorn.error": {"level": level},
                    "uvicorn.access": {**handler, "filters": ["access"]},
                    **{name: {"level": "WARNING"} for name in QUIET}},
        "root": {"handlers": ["stderr"], "level": level},
    }


def configure(level: str = "INFO", role: str = "gateway") -> None:
    logging.config.dictConfig(config(level, role))

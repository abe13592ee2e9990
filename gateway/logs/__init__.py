"""Structured logs: JSON lines on stderr with the correlation id of the message at hand.

:mod:`gateway.logs.correlation` keeps the id (contextvars) and :mod:`gateway.logs.setup`
configures logging for the API and worker processes (and uvicorn's own loggers).
"""

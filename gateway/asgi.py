"""ASGI factory for uvicorn with several worker processes:
``uvicorn gateway.asgi:create --factory --workers 2`` (settings from the environment)."""

from __future__ import annotations

from fastapi import FastAPI

from gateway.api.app import create_app
from gateway.config import Settings
from gateway.runtime import Gateway


def create() -> FastAPI:
    settings = Settings()
    return create_app(Gateway.create(settings), run_worker=settings.embedded_worker)

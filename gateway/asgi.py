"""ASGI factory for uvicorn with several API processes:
``uvicorn gateway.asgi:create --factory --workers 2`` (settings from the environment). The
worker loop runs in processes of its own (``rathaus-gateway worker``), never in these."""

from __future__ import annotations

from fastapi import FastAPI

from gateway.api.app import create_app
from gateway.bootstrap import Gateway
from gateway.config import Settings
from gateway.metrics import directory as metrics_directory


def create() -> FastAPI:
    settings = Settings()
    # the directory `serve` chose (from the environment), else the settings': counts of every process
    metrics_directory.use(settings.metrics_dir, clear=False)
    return create_app(Gateway.create(settings))

"""The e-mail and hybrid-mail adapters' public names are importable from their packages."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("package", ["adapters.email", "adapters.hybridmail"])
def test_every_public_name_is_exported(package: str) -> None:
    module = importlib.import_module(package)
    assert module.__all__
    for name in module.__all__:
        assert getattr(module, name) is not None, name

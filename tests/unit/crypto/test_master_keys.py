"""Encryption at rest is the default: a gateway without a master key refuses to start."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.config import AtRestSettings


def test_without_a_master_key_the_gateway_does_not_start_unless_told_to_store_in_clear() -> None:
    with pytest.raises(ValidationError, match=r"at_rest\.master_keys is empty"):
        AtRestSettings()
    assert AtRestSettings(store_in_clear=True).master_keys == []

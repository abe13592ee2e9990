"""Column types that seal personal data on the way into the database and open it on the way out.

The repositories read and write plain values; the engine a :class:`Sealer` is attached to
(:func:`attach`, by the composition root) seals them. An engine without one writes plaintext
(encryption not configured) and refuses to return a sealed value it cannot open; an engine
with one refuses a value in clear (written by someone without the key) unless told to accept
what was stored before encryption was switched on (``at_rest.accept_clear``). Searching
stays on the clear columns beside them (reference, status, service, dates, tenant).
"""

from __future__ import annotations

import json
import weakref
from typing import Any, Protocol

from sqlalchemy import JSON, Dialect, Engine, Text, TypeDecorator

from gateway.errors import SealedDataInvalid
from gateway.store.crypto.sealed import is_sealed


class Sealer(Protocol):
    accept_clear: bool  # read values written before encryption was switched on

    def seal(self, plain: str, purpose: str) -> str: ...

    def open(self, value: str, purpose: str) -> str: ...


_SEALERS: weakref.WeakKeyDictionary[Dialect, Sealer] = weakref.WeakKeyDictionary()


def attach(engine: Engine, sealer: Sealer) -> None:
    """Seal the personal-data columns of everything written through ``engine`` (each engine has
    its own dialect object, so two gateways in one process keep their own keys)."""
    _SEALERS[engine.dialect] = sealer


def _open(value: str, purpose: str, dialect: Dialect) -> str:
    sealer = _SEALERS.get(dialect)
    if not is_sealed(value):
        if sealer is not None and not sealer.accept_clear:
            raise SealedDataInvalid("a value in clear where a sealed one belongs (at_rest.accept_clear)")
        return value
    if sealer is None:
        raise SealedDataInvalid("a sealed value, but no key is configured (at_rest)")
    return sealer.open(value, purpose)


class SealedText(TypeDecorator[str]):
    """Text with personal data (a case document, a reply's text, a recipient)."""

    impl = Text
    cache_ok = True

    def __init__(self, purpose: str) -> None:
        super().__init__()
        self.purpose = purpose

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        sealer = _SEALERS.get(dialect)
        return str(value) if sealer is None else sealer.seal(str(value), self.purpose)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else _open(str(value), self.purpose, dialect)


class SealedJSON(TypeDecorator[Any]):
    """A JSON value with personal data: sealed as one JSON string holding the sealed text."""

    impl = JSON
    cache_ok = True

    def __init__(self, purpose: str) -> None:
        super().__init__()
        self.purpose = purpose

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        sealer = _SEALERS.get(dialect)
        return value if sealer is None else sealer.seal(json.dumps(value, separators=(",", ":")), self.purpose)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, str) and is_sealed(value):
            return json.loads(_open(value, self.purpose, dialect))
        sealer = _SEALERS.get(dialect)
        if value is not None and sealer is not None and not sealer.accept_clear:
            raise SealedDataInvalid("a value in clear where a sealed one belongs (at_rest.accept_clear)")
        return value

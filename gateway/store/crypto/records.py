"""The sealer of the database columns: the current ``records`` data key seals, the key id in a
value picks the key that opens it."""

from __future__ import annotations

from gateway.store.crypto import sealed
from gateway.store.crypto.data_keys import DataKeyRing

SCOPE = "records"


class RecordSealer:
    def __init__(self, ring: DataKeyRing, accept_clear: bool = False) -> None:
        self._ring = ring
        self.accept_clear = accept_clear

    def seal(self, plain: str, purpose: str) -> str:
        key_id, key = self._ring.current(SCOPE)
        return sealed.seal(plain, purpose, key, key_id)

    def open(self, value: str, purpose: str) -> str:
        return sealed.open_value(value, purpose, self._ring.key)

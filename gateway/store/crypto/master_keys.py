"""Master keys from configuration: 256-bit keys by id, one of them current. They only wrap and
unwrap data keys (AES key wrap, RFC 3394); nothing else is ever encrypted under them."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from gateway.errors import ConfigurationError

KEY_BYTES = 32


class UnknownMasterKey(ConfigurationError):
    """A data key is wrapped under a master key the configuration no longer lists."""


def parse_key(text: str | bytes, where: str) -> bytes:
    """A key given as base64 text (a file may also hold the 32 raw bytes)."""
    if isinstance(text, bytes) and len(text) == KEY_BYTES:
        return text
    raw = text.decode("ascii", "replace") if isinstance(text, bytes) else text
    try:
        key = base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(f"{where}: not base64") from None
    if len(key) != KEY_BYTES:
        raise ConfigurationError(f"{where}: a master key has {KEY_BYTES} bytes (base64 of 32 random bytes, "
                                 "e.g. `openssl rand -base64 32`)")
    return key


@dataclass(frozen=True)
class MasterKeys:
    keys: dict[str, bytes]
    current_id: str

    @classmethod
    def load(cls, entries: list[tuple[str, str | None, Path | None]], current_id: str | None,
             base_dir: Path) -> MasterKeys:
        """``entries``: (id, key as base64, or a file holding it) as configured."""
        keys: dict[str, bytes] = {}
        for key_id, inline, file in entries:
            where = f"at_rest.master_keys[{key_id}]"
            if (inline is None) == (file is None):
                raise ConfigurationError(f"{where}: give either key or key_file")
            if file is not None:
                path = file if file.is_absolute() else base_dir / file
                try:
                    keys[key_id] = parse_key(path.read_bytes()[:1024], where)
                except OSError as exc:
                    raise ConfigurationError(f"{where}: key_file cannot be read ({type(exc).__name__})") from None
            else:
                keys[key_id] = parse_key(inline or "", where)
        current = current_id or (list(keys)[-1] if keys else None)
        if current is None or current not in keys:
            raise ConfigurationError("at_rest.current_key_id must name one of at_rest.master_keys")
        return cls(keys=keys, current_id=current)

    def wrap(self, data_key: bytes) -> tuple[str, bytes]:
        """The data key wrapped under the current master key, with that key's id."""
        return self.current_id, aes_key_wrap(self.keys[self.current_id], data_key)

    def unwrap(self, master_key_id: str, wrapped: bytes) -> bytes:
        key = self.keys.get(master_key_id)
        if key is None:
            raise UnknownMasterKey(f"a data key is wrapped under master key {master_key_id!r}, which the "
                                   "configuration does not list (keep it until `keys rotate` has finished)")
        try:
            return aes_key_unwrap(key, wrapped)
        except InvalidUnwrap:
            raise ConfigurationError(f"master key {master_key_id!r} does not unwrap a data key wrapped under "
                                     "that id: the configured key material differs") from None

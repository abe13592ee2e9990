"""Sealed column values and master keys."""

from __future__ import annotations

import base64
import os
import uuid
from pathlib import Path

import pytest

from gateway.errors import ConfigurationError, SealedDataInvalid
from gateway.store.crypto import sealed
from gateway.store.crypto.master_keys import MasterKeys, UnknownMasterKey

KEY, KEY_ID = os.urandom(32), str(uuid.uuid4())


def test_a_value_round_trips_and_holds_no_clear_text() -> None:
    value = sealed.seal('{"name": "Erika Mustermann"}', "cases.document", KEY, KEY_ID)
    assert "Mustermann" not in value
    assert sealed.key_id_of(value) == KEY_ID
    assert sealed.open_value(value, "cases.document", lambda _: KEY) == '{"name": "Erika Mustermann"}'
    assert sealed.seal("x", "p", KEY, KEY_ID) != sealed.seal("x", "p", KEY, KEY_ID)  # fresh nonce each time


def test_a_value_moved_to_another_column_or_changed_or_under_another_key_fails() -> None:
    value = sealed.seal("Erika", "replies.title", KEY, KEY_ID)
    with pytest.raises(SealedDataInvalid):
        sealed.open_value(value, "replies.text", lambda _: KEY)
    with pytest.raises(SealedDataInvalid):
        sealed.open_value(value, "replies.title", lambda _: os.urandom(32))
    flipped = value[:-3] + ("A" if value[-3] != "A" else "B") + value[-2:]
    with pytest.raises(SealedDataInvalid):
        sealed.open_value(flipped, "replies.title", lambda _: KEY)
    with pytest.raises(SealedDataInvalid):
        sealed.open_value("rg1:" + KEY_ID + ":not base64!", "replies.title", lambda _: KEY)


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def test_master_keys_from_settings_and_files_wrap_and_unwrap(tmp_path: Path) -> None:
    old, new = os.urandom(32), os.urandom(32)
    (tmp_path / "new.key").write_text(b64(new) + "\n")
    keys = MasterKeys.load([("old", b64(old), None), ("new", None, Path("new.key"))], "old", tmp_path)
    master_id, wrapped = keys.wrap(KEY)
    assert master_id == "old" and KEY not in wrapped
    rotated = MasterKeys(keys=keys.keys, current_id="new")
    assert rotated.unwrap("old", wrapped) == KEY
    with pytest.raises(ConfigurationError):
        rotated.unwrap("new", wrapped)  # another key under that id: refused, not garbage
    with pytest.raises(UnknownMasterKey):
        MasterKeys(keys={"new": new}, current_id="new").unwrap("old", wrapped)


@pytest.mark.parametrize("text", ["too short", b64(os.urandom(16))])
def test_a_master_key_must_be_32_bytes_of_base64(text: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        MasterKeys.load([("k", text, None)], None, tmp_path)


def test_the_current_key_must_be_listed(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        MasterKeys.load([("k", b64(KEY), None)], "other", tmp_path)

"""Switching encryption at rest on for one gateway: master keys from the settings, the data key
ring of its database, the column sealer on its engine, the encrypting blob store."""

from __future__ import annotations

import logging

from gateway.config import Settings
from gateway.store.blob_gc import CollectableBlobs
from gateway.store.blobs import FilesystemBlobStore
from gateway.store.crypto import columns
from gateway.store.crypto.blobstore import EncryptedBlobStore
from gateway.store.crypto.data_keys import SCOPES, DataKeyRing
from gateway.store.crypto.master_keys import MasterKeys
from gateway.store.crypto.records import RecordSealer
from gateway.store.db import Database
from gateway.store.db_blobs import DatabaseBlobStore

log = logging.getLogger(__name__)


def master_keys(settings: Settings) -> MasterKeys | None:
    config = settings.at_rest
    if not config.master_keys:
        return None
    return MasterKeys.load([(key.id, key.key.get_secret_value() if key.key is not None else None, key.key_file)
                            for key in config.master_keys], config.current_key_id, settings.base_dir)


def protect(settings: Settings, db: Database, blobs: FilesystemBlobStore | DatabaseBlobStore
            ) -> tuple[CollectableBlobs, DataKeyRing | None]:
    """The blob store to use and the data key ring (None: no master key configured, data in clear)."""
    keys = master_keys(settings)
    if keys is None:
        log.warning("at_rest.store_in_clear: personal data is stored in clear")
        return blobs, None
    ring = DataKeyRing(db, keys)
    for scope in SCOPES:  # now, not on first use: that may be inside a writer's transaction
        ring.current(scope)
    columns.attach(db.engine, RecordSealer(ring, settings.at_rest.accept_clear))
    return EncryptedBlobStore(blobs, ring, settings.at_rest.accept_clear), ring

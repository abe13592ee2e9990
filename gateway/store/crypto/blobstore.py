"""A blob store that encrypts whatever it stores, around any store that can keep named bytes.

Keys stay what callers know: ``sha512/<hex>`` of the *plaintext*, so content addressing,
deduplication, the declared-digest check, reclaiming and the garbage collector work as before;
the wrapped store keeps the encrypted bytes (:mod:`.stream`) under that key. Sizes are
plaintext sizes. A blob in clear (no header) is refused as tampered, unless ``accept_clear``
(``at_rest.accept_clear``): then blobs stored before encryption was switched on are read as they
are until ``keys rotate --reseal`` encrypts them.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from gateway.errors import SealedDataInvalid, VerificationFailed
from gateway.ports import ProvisionalBlob, StoredBlob
from gateway.store.crypto import stream
from gateway.store.crypto.data_keys import DataKeyRing

SCOPE = "blobs"


class NamedBlobs(Protocol):
    """What the wrapped store offers (gateway/store/blobs.py and gateway/store/db_blobs.py have it)."""

    def put_named(self, chunks: Iterable[bytes], name: Callable[[], str]) -> ProvisionalBlob: ...

    def replace_named(self, key: str, chunks: Iterable[bytes]) -> None: ...

    def head(self, key: str, size: int) -> bytes: ...

    def refresh(self, key: str) -> bool: ...

    def open(self, key: str) -> Iterator[bytes]: ...

    def size(self, key: str) -> int | None: ...

    def exists(self, key: str) -> bool: ...

    def reclaim(self, blob: ProvisionalBlob) -> bool: ...

    def stored(self) -> Iterator[tuple[str, float]]: ...

    def delete_if_older(self, key: str, seconds: float) -> bool: ...

    def stale_temporaries(self, seconds: float) -> int: ...


class EncryptedBlobStore:
    def __init__(self, inner: NamedBlobs, ring: DataKeyRing, accept_clear: bool = False) -> None:
        self.inner, self._ring, self._accept_clear = inner, ring, accept_clear

    # -- writing ---------------------------------------------------------------------------
    def put(self, content: bytes, sha512: str | None = None) -> str:
        key = "sha512/" + (sha512 if sha512 is not None else hashlib.sha512(content).hexdigest())
        if not self.inner.refresh(key):  # stored already: as a put of the same bytes, nothing written
            self.inner.put_named(self._encrypt([content]), lambda: key)
        return key

    def put_stream(self, chunks: Iterable[bytes], sha512: str | None = None) -> StoredBlob:
        blob = self._put(chunks, sha512)
        return StoredBlob(key=blob.key, sha512=blob.sha512, size=blob.size)

    def put_provisional(self, chunks: Iterable[bytes]) -> ProvisionalBlob:
        return self._put(chunks, None)

    def _put(self, chunks: Iterable[bytes], sha512: str | None) -> ProvisionalBlob:
        digest, counted = hashlib.sha512(), [0]

        def hashed() -> Iterator[bytes]:
            for chunk in chunks:
                digest.update(chunk)
                counted[0] += len(chunk)
                yield chunk
            # raised inside the stream: the wrapped store then keeps nothing
            if sha512 is not None and not hmac.compare_digest(digest.hexdigest().encode(),
                                                              sha512.lower().encode()):
                raise VerificationFailed("content does not match its declared SHA-512")

        stored = self.inner.put_named(self._encrypt(hashed()), lambda: "sha512/" + digest.hexdigest())
        return ProvisionalBlob(key=stored.key, sha512=stored.key[7:], size=counted[0], stamp=stored.stamp)

    def _encrypt(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        key_id, key = self._ring.current(SCOPE)
        return stream.encrypt(chunks, key, key_id)

    def reclaim(self, blob: ProvisionalBlob) -> bool:
        return self.inner.reclaim(blob)

    # -- reading ---------------------------------------------------------------------------
    def _encrypted(self, key: str, clear_ok: bool = False) -> str | None:
        """The data key id of a stored blob, None if it was stored in clear (and that is accepted)."""
        found = stream.key_id_of(self.inner.head(key, stream.HEADER_BYTES))
        if found is None and not (clear_ok or self._accept_clear):
            raise SealedDataInvalid("a blob in clear where an encrypted one belongs (at_rest.accept_clear)")
        return found

    def get(self, key: str) -> bytes:
        return b"".join(self.open(key))

    def open(self, key: str) -> Iterator[bytes]:
        return self._open(key, clear_ok=False)

    def _open(self, key: str, clear_ok: bool) -> Iterator[bytes]:
        if self._encrypted(key, clear_ok) is None:
            return self.inner.open(key)
        return stream.decrypt(self.inner.open(key), self._ring.key)

    def size(self, key: str) -> int | None:
        stored = self.inner.size(key)
        if stored is None:
            return None
        return stored if self._encrypted(key) is None else stream.plain_size(stored)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    # -- key rotation (gateway/store/crypto/rotation.py) -------------------------------------
    def reseal(self, key: str, keep: Callable[[str], bool]) -> bool:
        """Encrypt the blob again under the current data key unless ``keep(its key id)``; also
        encrypts a blob stored in clear (whose content must match its key). True if it was rewritten."""
        current = self._encrypted(key, clear_ok=True)
        if current is not None and keep(current):
            return False
        self.inner.replace_named(key, self._encrypt(self._checked(key) if current is None else self.open(key)))
        return True

    def _checked(self, key: str) -> Iterator[bytes]:
        """A clear blob's content, refused at its end (before the sealed copy replaces it) unless
        it is what its key says: clear bytes someone put there are not sealed as genuine."""
        digest = hashlib.sha512()
        for chunk in self.inner.open(key):
            digest.update(chunk)
            yield chunk
        if not hmac.compare_digest("sha512/" + digest.hexdigest(), key):
            raise SealedDataInvalid("a blob in clear does not match its key")

    # -- for the garbage collector (gateway/store/blob_gc.py) -------------------------------
    def stored(self) -> Iterator[tuple[str, float]]:
        return self.inner.stored()

    def delete_if_older(self, key: str, seconds: float) -> bool:
        return self.inner.delete_if_older(key, seconds)

    def stale_temporaries(self, seconds: float) -> int:
        return self.inner.stale_temporaries(seconds)

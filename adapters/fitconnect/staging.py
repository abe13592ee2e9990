"""Where decrypted attachment content waits until it is verified: a sink with bounded memory.

The stream decryption (:mod:`.jwe_stream`) writes plaintext before the AES-GCM tag can be
checked, and a fragmented attachment is only known to be right when its last fragment has
been decrypted and the SHA-512 of the joined content compared. So the content goes to an
anonymous temporary file (deleted by the operating system when closed, whatever happens),
counted and hashed on the way, and only a verified :class:`Staged` is handed on.

The interface is small on purpose -- ``write(chunk)``, then ``finish()`` giving the size, the
digest and ``chunks()`` to read it back -- so the core's streaming blob write can take
``chunks()`` directly. Until it exists, :meth:`Staged.read` gives the bytes the core's
``VerifiedAttachment.content`` still expects.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from adapters.fitconnect.problems import problem

CHUNK = 1024 * 1024


@dataclass
class Staged:
    """Verified content in its staging file."""

    file: IO[bytes]
    size: int
    sha512: str

    def chunks(self) -> Iterator[bytes]:
        self.file.seek(0)
        while chunk := self.file.read(CHUNK):
            yield chunk

    def read(self) -> bytes:
        self.file.seek(0)
        return self.file.read()

    def close(self) -> None:
        self.file.close()


class StagingSink:
    """A plaintext sink with a size cap; ``instance`` names the content in the problem raised."""

    def __init__(self, max_bytes: int, instance: str) -> None:
        self.max_bytes, self.instance = max_bytes, instance
        self.file: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed by finish/discard
        self.digest = hashlib.sha512()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise problem("technical-error", self.instance,
                          f"the attachment exceeds this destination's limit of {self.max_bytes} bytes")
        self.digest.update(chunk)
        self.file.write(chunk)

    def finish(self) -> Staged:
        self.file.flush()
        return Staged(file=self.file, size=self.size, sha512=self.digest.hexdigest())

    def discard(self) -> None:
        self.file.close()

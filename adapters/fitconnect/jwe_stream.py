"""Decrypting a compact JWE as a stream: attachments and fragments with bounded memory.

joserfc decrypts whole tokens in memory; an attachment of several hundred MB must not be.
Here a compact JWE arrives as an iterator of byte chunks (from the blob store) and the
plaintext leaves as an iterator of chunks (:func:`decrypt_chunks`, a generator: nothing is
decrypted before the consumer asks for it, so no buffer grows, inflated content included):

1. the protected header, encrypted key and IV (the first three segments, each within its
   cap) are collected; the header goes through the same allow-list and the same joserfc
   registry header check as :func:`.jose.decrypt`; only then is the key named by ``kid``
   looked up and the CEK unwrapped (RSA-OAEP-256 with SHA-256, as joserfc does it; a failing
   unwrap continues with a random CEK, so it is refused by the tag and gives no oracle);
2. the ciphertext is decoded as strict base64url (no padding, no ``+ / =``, canonical last
   character) in chunks and decrypted with AES-256-GCM (``cryptography``), the protected
   header segment as AAD; ``zip: DEF`` content is inflated with the registry's cap;
3. the last segment is the tag: ``finalize_with_tag`` refuses anything altered.

Plaintext is handed on before the tag is checked (GCM cannot say earlier), so the consumer
must treat what it received as unverified until the generator has finished, and discard it
on any :class:`~.jose.JoseFailure`: the blob store's streaming write then publishes nothing
(:mod:`.content`), nothing is committed.
"""

from __future__ import annotations

import binascii
import secrets
import zlib
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import AEADDecryptionContext, Cipher, algorithms, modes
from joserfc.jwk import RSAKey

from adapters.fitconnect import jose
from adapters.fitconnect.jose import JoseFailure

_B64URL = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
# last character of an unpadded base64url group whose unused low bits are zero, by length % 4
_CANONICAL_LAST = {2: b"AQgw", 3: b"AEIMQUYcgkosw048"}
_OAEP_256 = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
_INFLATE_STEP = 256 * 1024
IV_BYTES = 12
CEK_BYTES = 32


@dataclass(frozen=True)
class Decrypted:
    """What a stream decryption established once the tag was checked."""

    tag: str  # the token's last segment, as FIT-Connect's authenticationTags name it
    plaintext_bytes: int
    token_bytes: int


def _strict_b64url(data: bytes) -> bytes:
    """Decode a complete group run (length a multiple of 4) of base64url, strictly."""
    if data.translate(None, _B64URL):
        raise JoseFailure("not base64url")
    try:
        return binascii.a2b_base64(data.translate(_TO_STANDARD), strict_mode=True)
    except binascii.Error:
        raise JoseFailure("not base64url") from None


def _strict_b64url_tail(data: bytes) -> bytes:
    """Decode the last (possibly incomplete) group of an unpadded base64url segment."""
    rest = len(data) % 4
    if rest == 1 or (rest and data[-1] not in _CANONICAL_LAST[rest]):
        raise JoseFailure("not base64url")
    if not rest:
        return _strict_b64url(data)
    return _strict_b64url(data[:-rest]) + _strict_b64url_pad(data[-rest:])


def _strict_b64url_pad(group: bytes) -> bytes:
    if group.translate(None, _B64URL):
        raise JoseFailure("not base64url")
    try:
        return binascii.a2b_base64(group.translate(_TO_STANDARD) + b"=" * (4 - len(group)), strict_mode=True)
    except binascii.Error:
        raise JoseFailure("not base64url") from None


class _Inflater:
    """Raw DEFLATE, at most ``cap`` bytes out; truncated streams and trailing data refused.
    Output comes in pieces of at most :data:`_INFLATE_STEP` bytes, each only when asked for."""

    def __init__(self, cap: int) -> None:
        self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        self._cap, self.total = cap, 0

    def feed(self, data: bytes) -> Iterator[bytes]:
        try:
            while data:
                if self._inflater.eof:
                    raise JoseFailure("decompression failed")  # data after the end of the stream
                out = self._inflater.decompress(data, self._room())
                yield from self._emit(out)
                data = self._inflater.unconsumed_tail
        except zlib.error:
            raise JoseFailure("decompression failed") from None

    def finish(self) -> Iterator[bytes]:
        try:
            while not self._inflater.eof and self._inflater.unconsumed_tail:
                yield from self._emit(self._inflater.decompress(self._inflater.unconsumed_tail, self._room()))
            yield from self._emit(self._inflater.flush())
        except zlib.error:
            raise JoseFailure("decompression failed") from None
        if not self._inflater.eof or self._inflater.unused_data:
            raise JoseFailure("decompression failed")

    def _room(self) -> int:
        """Inflate at most one byte beyond the cap: a bomb stops there, and no buffer is larger."""
        return max(1, min(_INFLATE_STEP, self._cap - self.total + 1))

    def _emit(self, out: bytes) -> Iterator[bytes]:
        self.total += len(out)
        if self.total > self._cap:
            raise JoseFailure("inflated content exceeds the size limit")
        if out:
            yield out


class _Decryptor:
    """The state of one token: segments 0-2 collected, then ciphertext streamed, then the tag."""

    def __init__(self, key_for_kid: Callable[[object], RSAKey | None], registry: jose.FitConnectJWERegistry,
                 size: int | None) -> None:
        self.size = size
        self.key_for_kid, self.registry = key_for_kid, registry
        self.caps = (registry.max_protected_header_length, registry.max_encrypted_key_length,
                     registry.max_initialization_vector_length)
        self.segment = 0  # 0 header, 1 encrypted key, 2 iv, 3 ciphertext, 4 tag
        self.prefix: list[bytes] = [b""]
        self.pending = b""  # ciphertext characters not yet a whole group of four
        self.ciphertext_chars = 0
        self.tag = b""
        self.plaintext = 0
        self.token = 0
        self.aes: AEADDecryptionContext | None = None
        self.inflater: _Inflater | None = None

    def feed(self, chunk: bytes) -> Iterator[bytes]:
        """The plaintext this chunk of the token completes."""
        self.token += len(chunk)
        if self.token > self.registry.max_compact_length:
            raise JoseFailure("token exceeds the size limit")
        while chunk:
            if self.segment < 3:
                chunk = self._collect(chunk)
            elif self.segment == 3:
                dot = chunk.find(b".")
                yield from self._ciphertext(chunk if dot < 0 else chunk[:dot])
                if dot < 0:
                    return
                yield from self._end_ciphertext()
                chunk = chunk[dot + 1:]
            else:
                if b"." in chunk:
                    raise JoseFailure("not a compact JWE")
                self.tag += chunk
                if len(self.tag) > self.registry.max_auth_tag_length:
                    raise JoseFailure("token exceeds the size limit")
                return

    def _collect(self, chunk: bytes) -> bytes:
        dot = chunk.find(b".")
        part = chunk if dot < 0 else chunk[:dot]
        self.prefix[-1] += part
        if len(self.prefix[-1]) > self.caps[self.segment]:
            raise JoseFailure("token exceeds the size limit")
        if dot < 0:
            return b""
        self.segment += 1
        if self.segment == 3:
            self._start()
        else:
            self.prefix.append(b"")
        return chunk[dot + 1:]

    def _start(self) -> None:
        header_segment, encrypted_key, iv = self.prefix
        if self.size is not None:  # the ciphertext's length is known: refuse it before any key
            at_least = self.size - sum(map(len, self.prefix)) - 4 - self.registry.max_auth_tag_length
            if at_least > self.registry.max_ciphertext_length:
                raise JoseFailure("token exceeds the size limit")
        header = jose.jwe_header(header_segment)
        jose.check_header(header, self.registry)
        key = self.key_for_kid(header.get("kid"))
        if key is None:
            raise JoseFailure("no decryption key for this kid")
        private = key.private_key if key.is_private else None
        if not isinstance(private, rsa.RSAPrivateKey):
            raise JoseFailure("no private key")
        iv_bytes = _strict_b64url_tail(iv)
        if len(iv_bytes) != IV_BYTES:
            raise JoseFailure("decryption failed")
        try:
            cek = private.decrypt(_strict_b64url_tail(encrypted_key), _OAEP_256)
        except ValueError:
            cek = b""
        if len(cek) != CEK_BYTES:
            cek = secrets.token_bytes(CEK_BYTES)  # as joserfc: the tag check fails, no separate answer
        decryptor = Cipher(algorithms.AES(cek), modes.GCM(iv_bytes)).decryptor()
        decryptor.authenticate_additional_data(header_segment)
        self.aes = decryptor
        if "zip" in header:
            self.inflater = _Inflater(self.registry.zip_cap)

    def _ciphertext(self, data: bytes) -> Iterator[bytes]:
        self.ciphertext_chars += len(data)
        if self.ciphertext_chars > self.registry.max_ciphertext_length:
            raise JoseFailure("token exceeds the size limit")
        if self.pending:
            data = self.pending + data
        whole = len(data) - len(data) % 4
        self.pending = data[whole:]
        if whole:
            yield from self._plain(self._decryptor().update(_strict_b64url(data[:whole] if self.pending else data)))

    def _end_ciphertext(self) -> Iterator[bytes]:
        if self.pending:
            yield from self._plain(self._decryptor().update(_strict_b64url_tail(self.pending)))
            self.pending = b""
        self.segment = 4

    def _decryptor(self) -> AEADDecryptionContext:
        if self.aes is None:  # pragma: no cover - set when the third dot is seen
            raise JoseFailure("not a compact JWE")
        return self.aes

    def _plain(self, data: bytes) -> Iterator[bytes]:
        if not data:
            return
        if self.inflater is not None:
            yield from self.inflater.feed(data)
        else:  # no larger than the ciphertext, which is capped
            self.plaintext += len(data)
            yield data

    def finish(self) -> Generator[bytes, None, Decrypted]:
        """The tag checked; then what an inflater still holds; the result."""
        if self.segment != 4 or not self.tag:
            raise JoseFailure("not a compact JWE")
        tag_bytes = _strict_b64url_tail(self.tag)
        if len(tag_bytes) != jose.TAG_BYTES:
            raise JoseFailure("decryption failed")
        try:
            self._decryptor().finalize_with_tag(tag_bytes)
        except (InvalidTag, ValueError):
            raise JoseFailure("decryption failed") from None
        if self.inflater is not None:
            yield from self.inflater.finish()
            self.plaintext = self.inflater.total
        return Decrypted(tag=self.tag.decode("ascii"), plaintext_bytes=self.plaintext, token_bytes=self.token)


def decrypt_chunks(chunks: Iterable[bytes], key_for_kid: Callable[[object], RSAKey | None],
                   registry: jose.FitConnectJWERegistry, size: int | None = None
                   ) -> Generator[bytes, None, Decrypted]:
    """Decrypt the compact JWE in ``chunks``, yielding the plaintext as it comes; the
    generator's return value (``yield from``) says what was decrypted. ``size``, the token's
    length when known (a stored part), lets an oversized token or ciphertext be refused
    before anything is decoded or any key is used.

    Raises :class:`~.jose.JoseFailure` (fixed messages) for anything but an intact token within
    the registry's caps -- at the latest when the last chunk was read; then everything yielded
    must be discarded.
    """
    if size is not None and size > registry.max_compact_length:
        raise JoseFailure("token exceeds the size limit")
    state = _Decryptor(key_for_kid, registry, size)
    for chunk in chunks:
        yield from state.feed(bytes(chunk))
    return (yield from state.finish())

"""Client secrets are stored as argon2id hashes (PHC strings, salted per secret).

Parameters: the OWASP Password Storage Cheat Sheet's minimum for argon2id — 19 MiB of memory,
2 iterations, 1 lane (its equivalent alternatives trade memory for iterations: 46 MiB x 1,
12 MiB x 3, 9 MiB x 4, 7 MiB x 5). One verification costs about 20-30 ms of one core here:
affordable once per token request (tokens live for minutes and the token endpoint is rate
limited), far too slow for an attacker who copied the configuration to try many guesses.
Hashes weaker than every one of those configurations, or of another argon2 variant, are
refused when the settings load.
"""

from __future__ import annotations

import functools
import re

from argon2 import PasswordHasher, Type, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MEMORY_KIB = 19 * 1024
TIME_COST = 2
PARALLELISM = 1
# (memory in KiB, iterations): OWASP's equivalent minimum configurations for argon2id
OWASP_MINIMUMS = ((46 * 1024, 1), (19 * 1024, 2), (12 * 1024, 3), (9 * 1024, 4), (7 * 1024, 5))
MAX_SECRET_BYTES = 1024

_HASHER = PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_KIB, parallelism=PARALLELISM, hash_len=32,
                         salt_len=16, type=Type.ID)
# The documented demo credentials (README, fixtures/demo/gateway.yaml): public, so refused
# unless the demo profile is on (setting ``demo: true``, which `make run` sets).
DEMO_SECRETS = ("demo-portal-secret", "demo-fachverfahren-secret", "demo-admin-secret", "demo-console-password")
DEMO_TOKEN_SIGNING_KEY = "demo-only-token-signing-key-0123456789abcdef"  # noqa: S105 - refused outside the demo
_SHA256_HEX = re.compile(r"^[0-9a-fA-F]{64}$")


def hash_secret(secret: str) -> str:
    if not secret or len(secret.encode()) > MAX_SECRET_BYTES:
        raise ValueError(f"a client secret needs 1 to {MAX_SECRET_BYTES} bytes")
    return _HASHER.hash(secret)


def verify_secret(secret_hash: str, secret: str) -> bool:
    if len(secret.encode()) > MAX_SECRET_BYTES:
        return False
    try:
        return _HASHER.verify(secret_hash, secret)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def check_hash(secret_hash: str) -> str:
    """The hash if it is an argon2id PHC string at least as strong as OWASP's minimum."""
    if _SHA256_HEX.match(secret_hash):
        raise ValueError(UNSALTED_MESSAGE)
    try:
        params = extract_parameters(secret_hash)
    except InvalidHashError:
        raise ValueError("secret_hash is not an argon2 PHC string ($argon2id$v=19$m=...); "
                         "make one with `rathaus-gateway clients hash-secret`") from None
    if params.type is not Type.ID:
        raise ValueError("secret_hash must be argon2id (not argon2i or argon2d)")
    if not any(params.memory_cost >= m and params.time_cost >= t for m, t in OWASP_MINIMUMS):
        raise ValueError(f"secret_hash is weaker than OWASP's argon2id minimum (m={params.memory_cost} KiB, "
                         f"t={params.time_cost}); hash the secret again with `rathaus-gateway clients hash-secret`")
    return secret_hash


@functools.lru_cache(maxsize=256)
def is_demo_secret(secret_hash: str) -> bool:
    """Whether the hash is of one of the published demo secrets (cached: settings load often)."""
    return any(verify_secret(secret_hash, demo) for demo in DEMO_SECRETS)


UNSALTED_MESSAGE = (
    "unsalted SHA-256 client secret hashes (secret_sha256) are no longer accepted: for each client run "
    "`rathaus-gateway clients hash-secret` (it reads the secret from standard input or a prompt), put the "
    "printed argon2id hash under `secret_hash` and remove `secret_sha256`; a secret whose plain text is lost "
    "needs a new secret, handed to that client")

"""Client secret hashes: argon2id at OWASP's minimum, old unsalted SHA-256 refused with a way out,
and the CLI that hashes a new secret from standard input."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest
from argon2 import PasswordHasher, Type
from pydantic import ValidationError

from gateway.client_secrets import check_hash, hash_secret, verify_secret
from gateway.config import ClientConfig


def test_hash_is_salted_argon2id_at_owasp_minimum() -> None:
    first, second = hash_secret("a-secret-of-enough-length"), hash_secret("a-secret-of-enough-length")
    assert first != second  # salted
    assert first.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert verify_secret(first, "a-secret-of-enough-length")
    assert not verify_secret(first, "a-secret-of-enough-lengtH")


def test_unsalted_sha256_is_refused_with_instructions() -> None:
    with pytest.raises(ValidationError) as refused:
        ClientConfig.model_validate({"client_id": "old-portal", "scopes": ["applications:submit"],
                                     "secret_sha256": hashlib.sha256(b"x").hexdigest()})
    message = str(refused.value)
    assert "secret_sha256" in message and "rathaus-gateway clients hash-secret" in message
    assert "secret_hash" in message


@pytest.mark.parametrize("weak", [
    PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1, type=Type.ID).hash("x"),
    PasswordHasher(time_cost=3, memory_cost=19 * 1024, parallelism=1, type=Type.I).hash("x"),
    hashlib.sha256(b"x").hexdigest(), "plain-text-secret",
])
def test_weak_or_foreign_hashes_are_refused(weak: str) -> None:
    with pytest.raises(ValueError, match=r"secret_hash|SHA-256"):
        check_hash(weak)


def test_stronger_hashes_are_accepted() -> None:
    strong = PasswordHasher(time_cost=1, memory_cost=47104, parallelism=2, type=Type.ID).hash("x")
    assert check_hash(strong) == strong


def test_cli_hashes_a_secret_read_from_stdin() -> None:
    secret = "a-new-client-secret-0123456789"
    done = subprocess.run([sys.executable, "-m", "gateway", "clients", "hash-secret"], input=secret + "\n",
                          capture_output=True, text=True, timeout=60, check=True)
    printed = done.stdout.strip()
    assert secret not in done.stdout + done.stderr
    assert verify_secret(check_hash(printed), secret)


def test_cli_refuses_short_secrets() -> None:
    done = subprocess.run([sys.executable, "-m", "gateway", "clients", "hash-secret"], input="short\n",
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "16 characters" in done.stderr

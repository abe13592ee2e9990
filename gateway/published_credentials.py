"""Credentials this repository publishes, refused unless the demo profile is on (``demo: true``).

Two kinds, found in the settings wherever they appear (the core's own settings and every
adapter's options, without the adapters having to list them):

- a *secret value* given in the demo configuration (``fixtures/demo/*.yaml``, every value under
  a name with ``secret``, ``password``, ``passphrase``, ``token`` or ``key`` in it): the demo
  token key, the citizen-session key, the FIT-Connect sandbox client and callback secrets, ...;
  the argon2id hashes of the demo client secrets are also recognised under a new salt
  (``client_secrets.is_demo_secret``);
- a *file* with the content of any file under ``fixtures/`` (test keys and certificates: the
  test PKI's root CA as a trust anchor, the sandbox TLS and SAML keys, the FIT-Connect JWKs, the
  OpenPGP test keys), wherever it was copied to: compared by SHA-256, not by path.

A finding names the setting (``adapters.fitconnect.destinations[0].callback_secret``) and, for
a file, the fixture it matches — never a secret's value.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from gateway.yamlfile import load_yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = REPO_ROOT / "fixtures"
_SECRET_NAME = re.compile(r"secret|password|passphrase|token|key", re.IGNORECASE)
_MAX_FILE_BYTES = 1024 * 1024  # key and certificate files are small; nothing bigger is compared
# settings that name folders and services, not credentials
_NOT_CREDENTIALS = frozenset({"data_dir", "blob_dir", "mappings_dir", "fixtures_dir", "base_dir", "database_url",
                              "redis_url"})


def _walk(value: Any, where: str) -> Iterator[tuple[str, str, str]]:
    """(location, the member name it sits under, the string) for every string in ``value``."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _walk(item, f"{where}[{index}]")
    elif isinstance(value, (str, Path)):
        yield where, where.rsplit(".", 1)[-1].split("[", 1)[0], str(value)


@functools.cache
def published_secrets() -> frozenset[str]:
    """The secret values of the demo configuration."""
    found: set[str] = set()
    for path in sorted((FIXTURES / "demo").glob("*.yaml")):
        for _, name, text in _walk(load_yaml(path).data, ""):
            # URLs (token_url) and file names (signing_key) are not secrets; the files are compared by content
            if _SECRET_NAME.search(name) and len(text) >= 8 and "://" not in text \
                    and not (REPO_ROOT / text).exists():
                found.add(text)
    return frozenset(found)


@functools.cache
def _fixture_files() -> dict[str, str]:
    """SHA-256 of every file under fixtures/ -> its path there."""
    digests: dict[str, str] = {}
    for path in sorted(FIXTURES.rglob("*")):
        if path.is_file() and path.stat().st_size <= _MAX_FILE_BYTES:
            digests.setdefault(hashlib.sha256(path.read_bytes()).hexdigest(), str(path.relative_to(REPO_ROOT)))
    return digests


def _fixture_file(text: str, base_dir: Path) -> str | None:
    """The fixture a file named by ``text`` (relative to ``base_dir``) is a copy of, if any."""
    if not text or len(text) > 1024 or "\0" in text or "\n" in text or "://" in text:
        return None
    path = Path(text) if Path(text).is_absolute() else base_dir / text
    try:
        if not path.is_file() or path.stat().st_size > _MAX_FILE_BYTES:
            return None
        return _fixture_files().get(hashlib.sha256(path.read_bytes()).hexdigest())
    except OSError:
        return None


def findings(settings: dict[str, Any], base_dir: Path) -> list[str]:
    """Every published credential in ``settings`` (a settings object's fields as a dict)."""
    found = []
    secrets = published_secrets()
    for where, _, text in _walk({k: v for k, v in settings.items() if k not in _NOT_CREDENTIALS}, ""):
        fixture = _fixture_file(text, base_dir)
        if fixture is not None:
            found.append(f"{where} names a file with the content of {fixture} (a test key or certificate)")
        elif text in secrets:
            found.append(f"{where} is a secret published in fixtures/demo")
    return found

"""Configuration of the E-POST sandbox; ``config_from_env()`` is what ``make run`` uses. DEMO ONLY."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from adapters.hybridmail.geometry import EPOST_WINDOW, WindowGeometry
from adapters.hybridmail.options import PdfLimits


@dataclass(frozen=True)
class Account:
    vendor_id: str
    ekp: str
    secret: str
    password: str


# TEST ONLY credentials of the sandbox (fixtures/demo/gateway.yaml uses them for make run).
DEMO_ACCOUNT = Account("rathaus-gateway-demo", "5012345678", "sandbox-epost-secret-0123456789",
                       "sandbox-epost-password-0123456789")


@dataclass(frozen=True)
class SandboxConfig:
    accounts: tuple[Account, ...] = (DEMO_ACCOUNT,)
    step_seconds: float = 10.0  # the status advances one step (1 -> 2 -> 3 -> 4) per this many seconds
    min_poll_interval_seconds: float = 0.0  # status requests closer than this per token get 429
    max_request_bytes: int = 300 * 1024 * 1024
    pdf: PdfLimits = field(default_factory=PdfLimits)
    window: WindowGeometry = EPOST_WINDOW
    duplicate_window_seconds: float = 3600.0
    max_failed_logins: int = 5  # per EKP within lockout_seconds, then 429 for everyone on that EKP
    lockout_seconds: float = 300.0
    letter_dir: Path | None = None  # keep accepted PDFs here instead of in memory
    max_letters: int = 10_000


def config_from_env() -> SandboxConfig:
    env = os.environ
    letter_dir = env.get("EPOST_SANDBOX_LETTER_DIR")
    return SandboxConfig(step_seconds=float(env.get("EPOST_SANDBOX_STEP_SECONDS", "10")),
                         min_poll_interval_seconds=float(env.get("EPOST_SANDBOX_MIN_POLL_SECONDS", "0")),
                         letter_dir=Path(letter_dir) if letter_dir else None)

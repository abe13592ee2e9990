"""A FUSE filesystem that simulates power loss (see ``fs.py`` for what it models) and the
helpers that mount it for a test (``mount.py``)."""

from tests.support.powercut.mount import PowerCutMount, fuse_missing, mounted, require_fuse

__all__ = ["PowerCutMount", "fuse_missing", "mounted", "require_fuse"]

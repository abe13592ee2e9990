"""Rathaus-Gateway core: one internal case format for every channel of a Digitales Rathaus.

The core never imports ``adapters``; adapters plug in through :mod:`gateway.ports`
and :mod:`gateway.adapter_registry` (entry points: :mod:`gateway.plugins`).
"""

__version__ = "0.1.0"

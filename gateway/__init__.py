"""Rathaus-Gateway core: one internal case format for every channel of a Digitales Rathaus.

The core never imports ``adapters``; adapters plug in through :mod:`gateway.ports`
and :mod:`gateway.registry`.
"""

__version__ = "0.1.0"

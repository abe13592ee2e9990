"""What runs at start-up: mapping files -> checked, compiled specs, every mistake as ``file:line``.

The result is the spec of :mod:`gateway.mapping.run`; this package is never needed per message.
"""

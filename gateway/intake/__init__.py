"""The intake path: receive (pull channels) | intake (synchronous channels) | process (the
worker's job) = verify -> route -> map -> commit case + events + outbox rows; the outbox then
acknowledges upstream. See :mod:`gateway.intake.pipeline`."""

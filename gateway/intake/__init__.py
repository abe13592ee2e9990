"""The intake path: receive -> inbox -> verify -> validate/map -> commit (+outbox) -> acknowledge."""

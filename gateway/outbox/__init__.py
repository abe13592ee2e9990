"""Delivery of what the outbox holds: webhooks, acknowledgements and rejections upstream."""

"""Delivery of what the outbox holds, after the commit that wrote it: a dispatcher that claims
due rows and a handler per kind (webhooks, acknowledgements and rejections upstream,
forwardings; later kinds such as replies register their own handler)."""

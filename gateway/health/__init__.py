"""Adapter health: a circuit breaker per adapter instance and what the admin sees of it.

For every adapter instance the core calls — each inbound source (``source``), each channel
that reports back upstream (``acknowledger``), each ``sender``, each ``reply_channel`` and
each webhook subscriber (``webhook``), named as registered — the workers record every call
(:mod:`gateway.health.recorder`, rules in :mod:`gateway.health.breaker`) in the shared table
``adapter_health``; the API process and the console read it.

Read API (for the console and anything else that shows health)::

    statuses = gateway.health.overview(tenants=principal.tenants)   # list[AdapterStatus]
    for status in statuses:
        status.kind, status.name, status.state        # "ok" | "degraded" | "down"
        status.circuit                                # "closed" | "open" | "half_open"
        status.last_success_at, status.last_error     # ErrorSummary(type, title) | None
        status.last_error_at, status.error_rate, status.calls
        status.backlog, status.lag_seconds, status.dead_letters, status.retry_at
        status.to_dict()                              # the JSON of GET /v1/admin/adapters

``state``: ``down`` while the circuit is open or half-open; ``degraded`` after a failure not yet
followed by a success, with an error rate of at least ``health.degraded_error_rate`` in the
recent window, or with work waiting longer than ``health.degraded_lag_seconds``; else ``ok``.

Guarding a call to an adapter (what a new outbox handler or follow-up loop does; outbox
handlers are guarded by the dispatcher already and may name their adapter kind with a class
attribute ``adapter_kind``, e.g. ``adapter_kind = "reply_channel"``)::

    result = gateway.health_recorder.call(AdapterKey("reply_channel", name), lambda: channel.follow(...))
    # raises gateway.errors.CircuitOpen (transient) without calling while the circuit is open
"""

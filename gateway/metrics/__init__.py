"""Prometheus metrics (``GET /metrics``), correct across the API and worker processes.

Two kinds of figures, each kept where it is cheapest to keep right:

* **Events** — intake per channel, service and outcome; the latency histograms (receipt to
  commit, commit to delivery — for ``ack`` rows: commit to acknowledgement); outbox deliveries
  per kind, target and outcome (a reply channel's deliveries included, whatever kind its
  handler has); retries; dead letters — are counted where they happen, in whichever process,
  with prometheus-client's **multiprocess mode**: every process writes its counters to memory-
  mapped files in one directory (``metrics.directory``, default ``data_dir/metrics``) and the
  scrape sums them (:mod:`gateway.metrics.instruments`). A process that ends leaves its file, so
  totals never go backwards while ``serve`` runs; ``serve`` and ``up`` empty the directory when
  they start (a restart is a counter reset, as Prometheus expects of one).
* **State** — queue depth, waiting and dead messages and deliveries, adapter state and circuit
  state — is read from the database at scrape time (:mod:`gateway.metrics.state`): the database
  is the truth every process shares, and gauges kept per process would disagree. Every query
  stays on an index of the ``state`` columns, so a scrape costs the same with 100 or 100,000 cases.

The environment variable ``PROMETHEUS_MULTIPROC_DIR`` must be set before prometheus-client is
imported (it chooses its storage then): :func:`gateway.metrics.directory.use` does it at the
start of ``serve``, ``worker`` and ``up``, and this package imports prometheus-client only
inside functions. A process without it (tests that run the API and the worker in one process)
counts in memory. Several hosts: each has its own directory and is scraped on its own; the
state gauges are then the same on every host (take ``max``).
"""

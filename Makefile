# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)
BENCH_STAMP := $(VENV)/.installed-bench-$(shell cat pyproject.toml | sha256sum | cut -c1-12)

.PHONY: run test lint typecheck unit integration e2e bench soak clean fuse
# the browser tests drive Debian's Chromium (never a downloaded browser build)
CHROMIUM := /usr/bin/chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/rathaus-gateway up

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy --strict gateway adapters

# The power-cut tests mount a FUSE filesystem: Debian's fuse3 (fusermount3, with libfuse3) when missing,
# installed as root; elsewhere the tests fail and say what to install.
fuse:
	@if command -v fusermount3 >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fuse3; \
	else echo "fuse3 missing: install Debian's fuse3 (the power-cut tests need it)" >&2; fi

$(CHROMIUM):
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium)

test: $(STAMP) fuse $(CHROMIUM) lint typecheck
	$(BIN)/rathaus-gateway schema export --check
	$(BIN)/pytest -q -p no:cacheprovider tests/unit tests/integration tests/e2e

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

integration: $(STAMP) fuse
	$(BIN)/pytest -q tests/integration

e2e: $(STAMP) $(CHROMIUM)
	$(BIN)/pytest -q tests/e2e

# the benchmark-only extra (the PyPI FIT-Connect SDK the FIT-Connect line compares with, py-spy);
# pip check fails the target should its pins ever clash with ours
$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e ".[dev,bench]"
	$(BIN)/pip check
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m tests.perf.run_all

# the long fault and load tests of issue 13 item 7 (the same tests run short in `make test`):
# 1,000 applications on every channel with 10 worker kills, 100 power cuts with traffic on every
# channel, and longer database/queue outages; FAULT_SEED=<n> repeats a run's random moments
soak: $(STAMP) fuse
	FAULT_INTAKES=1000 FAULT_KILLS=10 FAULT_CUTS=100 FAULT_OUTAGES=10 $(BIN)/pytest -q -p no:cacheprovider -s \
		tests/e2e/test_worker_sigkill_all_channels.py tests/integration/test_power_cut_all_channels.py \
		tests/integration/test_service_restarts.py

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache

"""Large content takes bounded memory: the small-size guard of the 1 GiB benchmark (issue 10).

The benchmark's own machinery (tests/perf/large) with 64 MiB: the sandboxes on loopback ports,
the gateway's worker as a process of its own, one attachment through the whole intake -- from
the sandbox to the acknowledgement -- as one FIT-Connect JWE, in FIT-Connect fragments, and as
an XTA MTOM part. The worker's peak resident memory (``/proc``, VmHWM) may grow by far less than
the content: what holds an attachment whole in memory anywhere on the way fails here. Wall
times are printed, not asserted (the machine is shared).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.perf.large.bench_large import measure
from tests.perf.large.runs import Result

MIB = 1024 * 1024
SIZE = 64 * MIB
MAX_GROWTH = 24 * MIB  # the content is 64 MiB; streamed, the worker grows by a few MiB


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Result]:
    tmp: Path = tmp_path_factory.mktemp("large-content")
    found = measure(SIZE, ["jwe", "fragments", "xta"], tmp, fragment_bytes=8 * MIB)
    return {r.name: r for r in found}


@pytest.mark.parametrize("name", ["FIT-Connect one JWE", "FIT-Connect fragments of 8 MiB", "XTA MTOM part"])
def test_a_64_mib_attachment_passes_the_intake_with_bounded_memory(results: dict[str, Result], name: str) -> None:
    result = results[name]
    print(f"{name}: {result.wall_s:.2f} s (floor {result.floor_s:.2f} s), worker +{result.growth / MIB:.1f} MiB")
    assert result.size == SIZE
    assert result.growth < MAX_GROWTH, (
        f"{name}: the worker grew by {result.growth / MIB:.1f} MiB for {SIZE // MIB} MiB of content")

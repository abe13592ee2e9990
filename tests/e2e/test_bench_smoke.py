"""The benchmarks of ``make bench`` (tests/perf) in miniature, so that their machinery cannot rot
unnoticed: one message through each line's harness, the gateway in processes of its own where
the benchmark runs it so. The figures mean nothing here. The PyPI FIT-Connect SDK the
FIT-Connect line compares with is a benchmark-only dependency (``make bench`` installs it) and is
left out; what it reads (the captured submission) is checked."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tests.perf import scaleout_bench as scaleout
from tests.perf.fitconnect import bench_intake as fitconnect
from tests.perf.gateway_process import GatewayProcesses
from tests.perf.measure import bench_one
from tests.perf.xta import bench_intake as xta


def test_xta_line_floor_required_work_and_a_worker_process(tmp_path: Path) -> None:
    floor_dir = tmp_path / "floor"
    floor_dir.mkdir()
    floor = xta.floor_work(floor_dir)
    required = xta.required_work(floor)
    with xta.mailbox() as box:
        worker = GatewayProcesses("smoke-xta", xta.gateway_settings(box.url), tmp_path / "gateway", command="worker",
                                  log_dir=tmp_path)
        try:
            worker.wait_ready()
            worker.pause()
            ids = box.post(1)
            responses = [box.response(message_id) for message_id in ids]
            floor_cpu = xta.timed_round(floor, responses, floor_dir)
            assert 0 < floor_cpu < xta.timed_round(required, responses, floor_dir)
            cpu, _, _ = xta.gateway_round(box, worker, ids)
        finally:
            worker.stop()
    assert cpu > 0 and box.closed(ids[0])
    assert not list(floor_dir.iterdir())  # the floor's files are removed after each round


def test_fitconnect_line_submission_as_the_sdk_sends_it_and_the_channel_alone(tmp_path: Path) -> None:
    with fitconnect.zustelldienst() as service:
        channel = fitconnect.ChannelOnly(service.url, tmp_path / "blobs")
        created = service.submit(1)[0]
        captured = service.capture(created)
        assert b'"encryptedMetadata"' in captured.submission and len(captured.attachments) == 1
        assert len(next(iter(captured.attachments.values()))) > fitconnect.ATTACHMENT_BYTES
        assert channel.round([channel.fetch(created)]) > 0


def test_portal_line_one_short_run_against_the_embedded_gateway(tmp_path: Path) -> None:
    args = argparse.Namespace(concurrency=4, warmup=0.2, duration=0.5, out=tmp_path / "portal.json")
    run = bench_one("embedded", 1, args, tmp_path)
    assert run.load.requests > 0 and run.load.errors == 0 and not run.load.warmup_errors
    assert run.server_cpu_ms_per_req > 0


def test_scaleout_lines_measure_both_process_counts_lock_waits_and_the_embedded_profile(tmp_path: Path) -> None:
    out = tmp_path / "scaleout.json"
    scaleout.main(["--quick", "--concurrency", "4", "--out", str(out)])
    result = json.loads(out.read_text())
    assert result["failures"] == []
    assert set(result["runs"]) == {"scaleout-1", "scaleout-2", "embedded-1"}
    for run in result["runs"].values():
        assert run["requests"] > 0 and run["errors"] == 0 and run["cpu_s"]["gateway"] > 0
    assert result["runs"]["scaleout-1"]["cpu_s"]["postgresql+redis"] > 0  # the services' backends are found
    metrics = {row["metric"]: row["value"] for row in result["summary"]}
    assert any(m.startswith("scale-out portal scaling efficiency (2 vs 1") and v > 0 for m, v in metrics.items())
    assert "scale-out portal scaleout 2 processes lock waits per intake" in metrics
    # the FIT-Connect line: an API process and 1, then 2 worker processes take in every submission
    assert set(result["fitconnect_runs"]) == {"workers-1", "workers-2"}
    for run in result["fitconnect_runs"].values():
        assert run["intakes"] > 0 and run["per_s"] > 0 and run["cpu_s"]["gateway"] > 0
        assert run["cpu_s"]["postgresql+redis"] > 0
    assert any(m.startswith("scale-out fitconnect scaling efficiency (2 vs 1") and v > 0 for m, v in metrics.items())
    assert "scale-out fitconnect 2 worker processes lock waits per intake" in metrics

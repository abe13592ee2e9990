"""The postbox benchmark at its smallest size (``--quick``: 20 decisions), so its code keeps
working between ``make bench`` runs: every decision accepted once, every summary row there."""

from __future__ import annotations

from pathlib import Path

from tests.perf.fitconnect import bench_postbox


def test_the_postbox_benchmark_runs_end_to_end(tmp_path: Path) -> None:
    result = bench_postbox.main(["--quick", "--out", str(tmp_path / "postbox.json")])
    check = result["check"]
    assert check["ok"], check
    assert (check["delivered"], check["accepted"], check["filed"], check["twice"]) == (20, 20, 20, 0)
    rows = {row["metric"].split(":")[1].strip().split(" ")[0]: row for row in result["summary"]}
    assert rows["gateway"]["value"] > rows["gateway"]["floor"] > 0  # CPU per decision next to the floor
    assert rows["PyPI"]["value"] > 0 and rows["wall"]["value"] > 0
    assert (tmp_path / "postbox.json").exists()

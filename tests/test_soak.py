"""The soak script end to end (``--quick``): its report agrees with itself and with its exit
status. The memory figure of a run this short means nothing, so no threshold is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "soak.py"


def test_quick_soak_reports_memory_and_samples_per_epoch(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--epochs", "5", "--warmup-epochs", "1",
                          "--window", "2", "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache")],
                         capture_output=True, text=True, timeout=300)
    report = json.loads((tmp_path / "out" / "soak.json").read_text())

    assert run.returncode == (0 if report["passed"] else 1), run.stderr[-3000:]
    rows = report["rows"]
    assert [r["epoch"] for r in rows] == [0, 1, 2, 3, 4]
    assert all(r["samples"] == report["num_samples"] == 20 for r in rows)  # 2 classes x 10 images
    rss = [r["peak_rss_bytes"] for r in rows]
    assert all(r["peak_rss_bytes"] > 0 and r["end_rss_bytes"] > 0 for r in rows)
    # Medians of two epochs: the last two against the two after the warm-up epoch.
    assert report["growth"] == pytest.approx((rss[3] + rss[4]) / (rss[1] + rss[2]) - 1)
    assert report["passed"] == (report["growth"] < 0.05 and report["every_sample_every_epoch"])
    table = [line for line in run.stdout.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(table) == 5 and [row.split("|")[3].strip() == "warm-up" for row in table] == [True] + [False] * 4
    assert (f"Peak RSS growth, median of the last 2 epoch(s) against the reference: {report['growth']:+.2%} "
            "(limit 5%)"
            in run.stdout)

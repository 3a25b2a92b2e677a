"""The soak script end to end (``--quick``): its report agrees with itself and with its exit
status. The memory figure of a run this short means nothing, so no threshold is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "soak.py"


def test_quick_soak_reports_memory_and_samples_per_epoch(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--epochs", "4", "--warmup-epochs", "2",
                          "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache")],
                         capture_output=True, text=True, timeout=300)
    report = json.loads((tmp_path / "out" / "soak.json").read_text())

    assert run.returncode == (0 if report["passed"] else 1), run.stderr[-3000:]
    rows = report["rows"]
    assert [r["epoch"] for r in rows] == [0, 1, 2, 3]
    assert all(r["samples"] == report["num_samples"] == 20 for r in rows)  # 2 classes x 10 images
    rss = [r["rss_bytes"] for r in rows]
    assert all(value > 0 for value in rss)
    assert report["growth"] == max(rss[2:]) / rss[1] - 1
    assert report["passed"] == (report["growth"] < 0.05 and report["every_sample_every_epoch"])
    table = [line for line in run.stdout.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(table) == 4 and table[0].split("|")[3].strip() == "warm-up"
    assert f"RSS growth after the 2 warm-up epochs: {report['growth']:+.2%} (limit 5%)" in run.stdout

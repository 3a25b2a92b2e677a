"""The throughput benchmark end to end (``--quick``), its baseline mixer and its built-in data set.

No timing is asserted: only that the run completes and that its outputs agree with each other.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from _bench import REPO, load_benchmark

SCRIPT = REPO / "benchmarks" / "throughput.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str, Path, str]:
    """One ``--quick`` run shared by the checks below: (report, results.md, out dir, stdout)."""
    base = tmp_path_factory.mktemp("quick")
    out = base / "out"
    done = _run("--quick", "--out", str(out), "--cache", str(base / "cache"))
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "results.json").read_text())
    return report, (out / "results.md").read_text(), out, done.stdout


@pytest.mark.slow
def test_quick_run_has_every_contender_with_its_figures(quick_run):
    report, _, _, _ = quick_run
    numbers = sorted(row["number"] for row in report["contenders"])
    assert numbers == ([1, 2, 3, 4] if torch.cuda.is_available() else [1, 2, 3])
    settings = report["settings"]
    for row in report["contenders"]:
        samples = [r["images_per_s"] for r in row["rounds"]]
        assert len(samples) == settings["repeats"] and all(v > 0 for v in samples)
        assert all(r["attempts"] == 1 and r["waited_s"] == 0 for r in row["rounds"])  # --quick never waits
        if row["cpu_ms_per_image"] is not None:  # /proc is there to read
            assert row["cpu_ms_per_image"] > 0
            assert all(0 <= r["other_cpu_share"] <= 1 for r in row["rounds"])
        assert row["min"] == min(samples) and row["max"] == max(samples)
        assert row["min"] <= row["q1"] <= row["median"] <= row["q3"] <= row["max"]
        images = row["output"]["images"]
        assert images["shape"] == [settings["batch_size"], 3, settings["image_size"], settings["image_size"]]
        assert images["dtype"] == "torch.float32"
    orders = report["round_orders"]
    assert len(orders) == settings["repeats"]
    assert all(sorted(order) == sorted(r["key"] for r in report["contenders"]) for order in orders)
    assert orders[1] == orders[0][1:] + orders[0][:1]  # rotated: every contender takes every place


@pytest.mark.slow
def test_quick_run_ratios_are_the_quotients_of_the_medians(quick_run):
    report, _, _, _ = quick_run
    medians = {row["key"]: row["median"] for row in report["contenders"]}
    reference = medians[report["reference"]]
    for row in report["contenders"]:
        assert math.isclose(row["ratio_to_reference"], row["median"] / reference, rel_tol=1e-12)
    assert {(t["numerator"], t["denominator"]) for t in report["targets"]} == {
        ("dali-mix", "dataloader-mix"), ("dali-mix", "dali-nomix")}
    for target in report["targets"]:
        ratio = medians[target["numerator"]] / medians[target["denominator"]]
        assert math.isclose(target["ratio"], ratio, rel_tol=1e-12)
        assert target["met"] == (ratio >= target["minimum"])


@pytest.mark.slow
def test_quick_run_markdown_shows_the_json_figures(quick_run):
    report, markdown, _, stdout = quick_run
    assert markdown in stdout  # the table is printed on the terminal too
    rows = [line for line in markdown.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(rows) == len(report["contenders"])
    for line, row in zip(rows, report["contenders"]):
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert cells[0] == str(row["number"]) and cells[1] == row["label"]
        assert cells[2] == f"{row['median']:.1f}" and cells[-1] == f"{row['ratio_to_reference']:.2f}x"
    expected_backend = "torchvision" if report["machine"]["versions"]["torchvision"] else "pillow"
    assert report["baseline_backend"] == expected_backend
    assert f"baseline recipe: {expected_backend}" in markdown
    for target in report["targets"]:
        assert f"= {target['ratio']:.3f}" in markdown


@pytest.mark.slow
def test_quick_run_describes_the_machine_and_draws_the_chart(quick_run):
    report, _, out, _ = quick_run
    machine = report["machine"]
    assert machine["cores"] >= 1 and machine["cpu"]
    assert machine["gpu"] == (torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
    assert {"python", "torch", "torchvision", "nvidia-dali-cuda120"} <= set(machine["versions"])
    with Image.open(out / "throughput.png") as chart:
        assert chart.format == "PNG" and chart.width > 300 and chart.height > 100
        assert len(chart.convert("L").getcolors(maxcolors=100_000) or []) > 2  # not blank


@pytest.mark.parametrize("make, message", [
    (lambda tmp: tmp / "missing", "expected an existing directory"),
    (lambda tmp: tmp, "class folder(s) 'cats' contain no images"),
])
def test_bad_data_folder_is_a_clear_error(tmp_path, make, message):
    (tmp_path / "cats").mkdir()
    done = _run("--data", str(make(tmp_path)), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_baseline_mixer_targets_follow_the_pixels():
    torch.manual_seed(0)
    mixer = load_benchmark("baseline").TorchMix(num_classes=5)
    images = torch.arange(4, dtype=torch.float32).view(4, 1, 1, 1).expand(4, 3, 16, 20).contiguous()
    labels = torch.tensor([0, 1, 2, 3])
    for _ in range(20):
        mixed, targets = mixer(images.clone(), labels)
        assert torch.allclose(targets.sum(1), torch.ones(4))
        # Sample i is mixed with sample i-1: its label weight equals its share of the pixels.
        own = targets[torch.arange(4), labels]
        partner = images.roll(1, 0)
        share = ((mixed - partner) / (images - partner)).mean(dim=(1, 2, 3))
        assert torch.allclose(own, share, atol=1e-5)


def test_quiet_gate_holds_back_only_while_on_and_patient():
    gate_type = load_benchmark("timing").QuietGate

    def never(text: str) -> None:
        raise AssertionError(f"no wait expected, got {text!r}")

    for gate in (gate_type(max_share=1.0, patience=100), gate_type(max_share=0.0, patience=0)):
        assert gate.wait(never) == 0 and gate.accepts(0.9)
    gate = gate_type(max_share=0.1, patience=100)
    assert gate.accepts(0.05) and gate.accepts(None) and not gate.accepts(0.5)


def test_synthetic_set_is_deterministic_photo_sized_and_cached(tmp_path):
    synthetic = load_benchmark("synthetic")
    spec = synthetic.SyntheticSpec(num_classes=2, images_per_class=3, seed=7)
    first = synthetic.ensure_dataset(spec, cache_dir=tmp_path / "a", workers=1)
    second = synthetic.ensure_dataset(spec, cache_dir=tmp_path / "b", workers=1)
    files = sorted(p.relative_to(first) for p in first.rglob("*.jpg"))
    assert [p.parts[0] for p in files] == ["class_00"] * 3 + ["class_01"] * 3
    for name in files:
        assert (first / name).read_bytes() == (second / name).read_bytes()
        with Image.open(first / name) as image:
            assert image.format == "JPEG" and image.mode == "RGB"
            assert 440 <= max(image.size) <= 560 and min(image.size) >= 230
    stamp = (first / files[0]).stat().st_mtime_ns
    assert synthetic.ensure_dataset(spec, cache_dir=tmp_path / "a") == first
    assert (first / files[0]).stat().st_mtime_ns == stamp  # reused, not regenerated
    other = synthetic.ensure_dataset(synthetic.SyntheticSpec(num_classes=2, images_per_class=3, seed=8),
                                     cache_dir=tmp_path / "a", workers=1)
    assert other != first and (other / files[0]).read_bytes() != (first / files[0]).read_bytes()


def test_every_round_times_a_fresh_instance_after_draining_its_queue():
    """Each contender-round opens a new stream, warms it up, drains what it may have prefetched
    while the machine was checked for quiet, times, and closes it; outputs are checked once,
    after the first round."""
    timing = load_benchmark("timing")
    recipe = load_benchmark("recipe")
    opened, closed, drawn = [], [], {}

    def make(key):
        def open_stream():
            opened.append(key)
            drawn[len(opened)] = 0

            def stream(n=len(opened)):
                try:
                    while True:
                        drawn[n] += 1
                        yield torch.zeros(2, 3, 4, 4), torch.zeros(2, 5)
                finally:
                    closed.append(n)
            return stream()
        return recipe.Contender(key, 1, key, open_stream)

    settings = recipe.Settings(batch_size=2, image_size=4, workers=3, warmup=2, batches=5, repeats=3,
                               seed=0, max_other_share=1.0, patience=0.0)
    checks = []

    class Bar:
        total = 0

        def set_postfix_str(self, *args, **kwargs): ...

        def update(self): ...

        def refresh(self): ...

    rounds, orders, outputs = timing.time_rounds(
        [make("a"), make("b")], settings, progress=timing.Progress(Bar()), check=checks.append)
    assert len(opened) == 6 and sorted(closed) == list(range(1, 7)), "one fresh instance per round, closed"
    assert all(n == 2 + timing.settle_batches(3) + 5 for n in drawn.values())
    assert len(checks) == 1 and set(checks[0]) == {"a", "b"}
    assert [len(rounds[k]) for k in ("a", "b")] == [3, 3] and len(orders) == 3

"""The throughput benchmark end to end (``--quick``), its baseline mixer, timm's and SPDL's
contenders (where their libraries load), its report and chart, and its built-in data set; the
stage benchmark's target; the GPU check's exit without a GPU, its steps and its report.

No timing is asserted: only that the runs complete and that their outputs agree with each other.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import inspect
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from _bench import REPO, load_benchmark
from _mixrun import cuda_available

SCRIPT = REPO / "benchmarks" / "throughput.py"
TIMM_MISSING = load_benchmark("timm_loader").timm_missing()
SPDL_MISSING = load_benchmark("spdl_loader").spdl_missing()
OPTIONAL = {6: ("timm-loader", TIMM_MISSING), 7: ("spdl-pipeline", SPDL_MISSING)}  # number: (key, why not)


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
    expected = [1, 2, 3, 4, 5] if torch.cuda.is_available() else [1, 2, 3, 5]
    assert numbers == expected + [n for n, (_, missing) in OPTIONAL.items() if missing is None]
    assert [(s["number"], s["key"], s["reason"]) for s in report["skipped"]] == [
        (n, key, missing) for n, (key, missing) in OPTIONAL.items() if missing is not None]
    assert report["ceiling"]["key"] == "decode-only" and "number" not in report["ceiling"]
    settings = report["settings"]
    for row in [*report["contenders"], report["ceiling"]]:
        samples = [r["images_per_s"] for r in row["rounds"]]
        assert len(samples) == settings["repeats"] and all(v > 0 for v in samples)
        assert all(r["attempts"] == 1 and r["waited_s"] == 0 for r in row["rounds"])  # --quick never waits
        if row["cpu_ms_per_image"] is not None:  # /proc is there to read
            assert row["cpu_ms_per_image"] > 0
            assert all(0 <= r["other_cpu_share"] <= 1 for r in row["rounds"])
        assert row["min"] == min(samples) and row["max"] == max(samples)
        assert row["min"] <= row["q1"] <= row["median"] <= row["q3"] <= row["max"]
        if row is report["ceiling"]:  # DALI's own batches: uint8 crops of their own sizes
            assert row["output"]["images"]["batch"] == settings["batch_size"]
            assert row["output"]["images"]["layout"] == "HWC"
            continue
        images = row["output"]["images"]
        assert images["shape"] == [settings["batch_size"], 3, settings["image_size"], settings["image_size"]]
        assert images["dtype"] == "torch.float32"
    orders = report["round_orders"]
    assert len(orders) == settings["repeats"]
    keys = [r["key"] for r in report["contenders"]] + ["decode-only"]
    assert all(sorted(order) == sorted(keys) for order in orders)
    assert orders[1] == orders[0][1:] + orders[0][:1]  # rotated: every contender takes every place


@pytest.mark.slow
def test_quick_run_ratios_are_the_quotients_of_the_medians(quick_run):
    report, _, _, _ = quick_run
    medians = {row["key"]: row["median"] for row in report["contenders"]}
    reference, ours = medians[report["reference"]], medians[report["ours"]]
    workers = report["settings"]["workers"]
    for row in report["contenders"]:
        assert math.isclose(row["ratio_to_reference"], row["median"] / reference, rel_tol=1e-12)
        assert math.isclose(row["ratio_to_ours"], row["median"] / ours, rel_tol=1e-12)
        assert math.isclose(row["images_per_s_per_core"], row["median"] / workers, rel_tol=1e-12)
    ceiling = report["ceiling"]
    assert math.isclose(ceiling["ours_fraction"], ours / ceiling["median"], rel_tol=1e-12)
    assert math.isclose(ceiling["reference_fraction"], reference / ceiling["median"], rel_tol=1e-12)
    expected = ({("dali-mix", "dataloader-gpumix"), ("dali-mix", "dali-nomix")} if torch.cuda.is_available()
                else {("dali-mix", "dataloader-mix"), ("dali-mix", "dali-nomix"), ("dali-mix", ceiling["key"])})
    assert {(t["numerator"], t["denominator"]) for t in report["targets"]} == expected
    medians[ceiling["key"]] = ceiling["median"]
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
        assert cells[6] == f"{row['images_per_s_per_core']:.1f}" and cells[-2] == f"{row['ratio_to_ours']:.2f}x"
    expected_backend = "torchvision" if load_benchmark("baseline").torchvision_available() else "pillow"
    assert report["baseline_backend"] == expected_backend
    assert f"baseline recipe: {expected_backend}" in markdown
    for skipped in report["skipped"]:
        assert f"- #{skipped['number']} ({skipped['label']}) did not run: {skipped['reason']}\n" in markdown
    for target in report["targets"]:
        assert f"= {target['ratio']:.3f}" in markdown


@pytest.mark.slow
def test_quick_run_lists_nvidias_recipe_and_the_decode_only_ceiling(quick_run):
    report, markdown, _, stdout = quick_run
    nvidia = next(row for row in report["contenders"] if row["key"] == "nvidia-recipe")
    assert nvidia["number"] == 5 and "NVIDIA's recipe (DeepLearningExamples)" in nvidia["label"]
    assert "Mixup only" in nvidia["label"]
    settings = report["settings"]
    assert nvidia["output"]["targets"]["shape"] == [settings["batch_size"], report["data"]["classes"]]
    assert f"| 5 | {nvidia['label']} |" in stdout
    ceiling = report["ceiling"]
    assert f"| ceiling | {ceiling['label']} | {ceiling['median']:.1f} |" in stdout
    assert f"ours (#1) / decode-only = {ceiling['ours_fraction']:.2f}" in markdown
    if not torch.cuda.is_available():  # ours must keep 70% of the decode-only rate
        (share,) = [t for t in report["targets"] if t["denominator"] == ceiling["key"]]
        assert (share["minimum"], share["numerator"]) == (0.70, report["ours"])
        assert math.isclose(share["ratio"], ceiling["ours_fraction"], rel_tol=1e-12)
        assert f"- #1 / decode-only = {share['ratio']:.3f} (target >= 0.7): " in markdown


@pytest.mark.slow
def test_quick_run_gives_timms_and_spdls_contenders_the_same_output(quick_run):
    report, markdown, _, _ = quick_run
    rows = {row["number"]: row for row in report["contenders"]}
    settings, classes = report["settings"], report["data"]["classes"]
    for number, (key, missing) in OPTIONAL.items():
        if missing is not None:
            assert number not in rows and f"#{number} (" in markdown
            continue
        row = rows[number]
        assert row["key"] == key and f"| {number} | {row['label']} |" in markdown
        device = "cuda:0" if number == 6 and torch.cuda.is_available() else "cpu"  # timm's PrefetchLoader
        assert row["output"]["images"] == {"shape": [settings["batch_size"], 3, settings["image_size"],
                                                     settings["image_size"]], "dtype": "torch.float32",
                                           "device": device}
        assert row["output"]["targets"] == {"shape": [settings["batch_size"], classes], "dtype": "torch.float32",
                                            "device": device}
    if 7 in rows:  # SPDL mixes with the DataLoader recipe's mixer
        recipe = "torchvision" if report["baseline_backend"] == "torchvision" else "Pillow + torch"
        assert f"{recipe} mixing in torch" in rows[7]["label"]


@pytest.mark.slow
def test_quick_run_describes_the_machine_and_draws_the_chart(quick_run, monkeypatch):
    report, _, out, _ = quick_run
    machine = report["machine"]
    assert machine["cores"] >= 1 and machine["cpu"]
    assert machine["gpu"] == (torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
    assert {"python", "torch", "torchvision", "timm", "spdl", "nvidia-dali-cuda120"} <= set(machine["versions"])
    labels, texts = _drawn_chart(report, out / "again.png", monkeypatch)
    assert labels[0].startswith("decode-only ceiling")
    assert [label.split(" ", 1)[0] for label in labels[1:]] == [f"#{r['number']}" for r in report["contenders"]]
    assert all(f"{r['ratio_to_reference']:.2f}x #3" in " ".join(texts) for r in report["contenders"])
    with Image.open(out / "throughput.png") as chart:
        assert chart.format == "PNG" and chart.width > 300 and chart.height > 100
        assert len(chart.convert("L").getcolors(maxcolors=100_000) or []) > 2  # not blank


@pytest.mark.slow
def test_quick_heavy_run_times_ours_on_both_recipes_and_checks_the_heavy_targets(tmp_path):
    out = tmp_path / "out"
    done = _run("--quick", "--recipe", "heavy", "--out", str(out), "--cache", str(tmp_path / "cache"))
    assert done.returncode == 0, done.stderr[-3000:]
    report, markdown = json.loads((out / "results.json").read_text()), (out / "results.md").read_text()
    assert report["recipe"] == "heavy" and markdown in done.stdout and (out / "throughput.png").is_file()
    torchvision = load_benchmark("baseline").torchvision_available()
    optional = {3: ("dataloader-mix", None if torchvision else load_benchmark("throughput").NO_TORCHVISION),
                6: ("timm-loader", TIMM_MISSING)}
    assert [row["number"] for row in report["contenders"]] == [1, 2] + [n for n, (_, why) in optional.items()
                                                                         if why is None]
    assert [(s["number"], s["key"], s["reason"]) for s in report["skipped"]] == [
        (n, key, why) for n, (key, why) in optional.items() if why is not None]
    assert report["ceiling"]["key"] == "decode-only"
    settings, classes = report["settings"], report["data"]["classes"]
    for row in report["contenders"]:  # every one mixes: soft targets
        assert row["output"]["images"]["shape"] == [settings["batch_size"], 3, settings["image_size"],
                                                    settings["image_size"]]
        assert row["output"]["targets"]["shape"] == [settings["batch_size"], classes]
        assert f"- #{row['number']}: {row['options']}\n" in markdown
    assert "auto_augment='rand-m9-mstd0.5-inc1', re_prob=0.25, re_mode='pixel'" in report["contenders"][0]["options"]
    targets = {(t["numerator"], t["denominator"]): t for t in report["targets"]}
    assert set(targets) == {("dali-mix", "dataloader-mix"), ("dali-mix", "dali-light")}
    assert (targets["dali-mix", "dataloader-mix"]["ratio"] is None) == (not torchvision)
    assert targets["dali-mix", "dali-light"]["minimum"] == 0.75 and targets["dali-mix", "dali-light"]["ratio"] > 0


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


def test_nvidia_mixup_blends_a_permutation_with_its_targets():
    np.random.seed(0)
    torch.manual_seed(0)
    mixer = load_benchmark("alternatives").NvidiaMixup(alpha=0.8, num_classes=6, label_smoothing=0.1)
    images = torch.arange(5, dtype=torch.float32).view(5, 1, 1, 1).expand(5, 3, 8, 8).contiguous()
    labels = torch.tensor([0, 1, 2, 3, 4])
    smoothed = torch.full((5, 6), 0.1 / 6)
    smoothed[torch.arange(5), labels] += 0.9
    assert torch.allclose(mixer.targets(labels, torch.float32), smoothed)
    for _ in range(20):
        mixed, targets = mixer(images, labels)
        assert mixed.shape == images.shape and targets.shape == (5, 6)
        assert torch.allclose(targets.sum(1), torch.ones(5))
        # Each pixel is lam * own + (1 - lam) * partner, its target likewise (before smoothing).
        unsmoothed = (targets - 0.1 / 6) / 0.9
        assert torch.allclose(mixed[:, 0, 0, 0], unsmoothed @ torch.arange(6, dtype=torch.float32), atol=1e-5)
        own = unsmoothed[torch.arange(5), labels]
        moved = own[(own - 1).abs() > 1e-6]  # samples paired with another: one lam per batch
        assert torch.allclose(moved, moved[:1].expand_as(moved), atol=1e-6)


# ------------------------------------------------------------------ timm's and SPDL's contenders

COLOURS = np.array([[230, 20, 20], [20, 200, 40], [30, 60, 220], [200, 200, 30]], dtype=np.uint8)  # per class


def _flat_colour_data(make_image_folder):
    """4 classes of 3 PNGs each, every pixel of class c's images COLOURS[c], as the benchmark reads them."""
    root = make_image_folder([3, 3, 3, 3], size=(40, 56),
                             pixels=lambda index, label: np.broadcast_to(COLOURS[label], (40, 56, 3)).copy())
    samples, num_classes = load_benchmark("throughput").scan_image_folder(root)
    return load_benchmark("recipe").DataInfo(root=root, samples=samples, num_classes=num_classes, synthetic=False)


def _small_settings():
    return load_benchmark("recipe").Settings(batch_size=6, image_size=24, workers=2, warmup=1, batches=1,
                                             repeats=1, seed=0, max_other_share=1.0, patience=0.0)


def _check_mixed_batches(stream, *, batches: int = 4) -> None:
    """Each batch: normalized float32 (6, 3, 24, 24) images, soft (6, 4) targets summing to 1, and each
    image's mean colour the target-weighted blend of its classes' colours; some batch mixes two classes."""
    from pipelines import IMAGENET_MEAN, IMAGENET_STD

    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    colours = torch.from_numpy(COLOURS).float() / 255
    mixed = False
    try:
        for _ in range(batches):
            images, targets = next(stream)
            assert images.shape == (6, 3, 24, 24) and images.dtype == torch.float32 and images.is_contiguous()
            assert targets.shape == (6, 4) and targets.dtype == torch.float32
            assert torch.allclose(targets.sum(1), torch.ones(6)) and bool((targets >= 0).all())
            pixels = images * std + mean  # back to 0..1
            assert -0.01 < pixels.min() and pixels.max() < 1.01
            assert torch.allclose(pixels.mean(dim=(2, 3)), targets @ colours, atol=0.01)
            mixed |= bool((targets.max(1).values < 0.99).any())
    finally:
        stream.close()
    assert mixed


def test_every_contender_augments_as_train_pipelines_defaults():
    from pipelines import train_pipeline

    recipe = load_benchmark("recipe")
    parameters = inspect.signature(train_pipeline).parameters
    assert (parameters["scale"].default, parameters["ratio"].default, parameters["hflip"].default) == (
        recipe.SCALE, recipe.RATIO, recipe.HFLIP)
    config = recipe.mix_config(7)
    assert (config.mixup_alpha, config.cutmix_alpha, config.prob, config.switch_prob, config.mode.value,
            config.correct_lam, config.label_smoothing, config.num_classes) == (0.8, 1.0, 1.0, 0.5, "batch",
                                                                                True, 0.0, 7)


def test_contenders_whose_library_cannot_run_are_skipped_with_the_reason(monkeypatch):
    throughput, recipe = load_benchmark("throughput"), load_benchmark("recipe")
    monkeypatch.setattr(throughput, "timm_missing", lambda: "no timm here")
    monkeypatch.setattr(throughput, "spdl_missing", lambda: None)
    data = recipe.DataInfo(root=Path("/data"), samples=[], num_classes=4, synthetic=False)
    contenders, skipped = throughput.build_contenders(data, _small_settings(), backend="pillow", gpu=False)
    assert [c.number for c in contenders] == [3, 1, 2, 5, 0, 7]
    assert "Pillow + torch mixing" in contenders[-1].label
    assert [(s.number, s.key, s.reason) for s in skipped] == [(6, "timm-loader", "no timm here")]
    assert skipped[0].label.startswith("timm's loader as its train.py builds it")


def test_recipe_option_defaults_to_light_and_a_heavy_run_writes_beside_it(tmp_path, capsys):
    throughput = load_benchmark("throughput")
    out = REPO / "benchmarks" / "out"
    light = throughput.parse_args([])
    assert (light.recipe, light.out) == ("light", out)
    heavy = throughput.parse_args(["--recipe", "heavy"])
    assert (heavy.recipe, heavy.out) == ("heavy", out / "heavy")
    assert throughput.parse_args(["--recipe", "heavy", "--out", str(tmp_path)]).out == tmp_path
    with pytest.raises(SystemExit) as stopped:
        throughput.parse_args(["--recipe", "medium"])
    assert stopped.value.code == 2
    assert "argument --recipe: invalid choice: 'medium'" in capsys.readouterr().err


def test_heavy_recipe_is_timms_train_py_recipe_in_train_pipelines_options():
    from types import SimpleNamespace

    from dali_mixup.policy import parse_auto_augment
    from pipelines.timm_args import from_timm_args

    recipe = load_benchmark("recipe")
    assert recipe.augment_options("light") == {}
    assert recipe.augment_options("heavy") == recipe.HEAVY_AUGMENT
    # timm's train.py flags of the recipe; --color-jitter left at timm's 0.4, which RandAugment turns off.
    flags = SimpleNamespace(aa="rand-m9-mstd0.5-inc1", reprob=0.25, remode="pixel", recount=1,
                            train_interpolation="bilinear")
    options = from_timm_args(flags)
    assert {name: options[name] for name in recipe.HEAVY_AUGMENT} == recipe.HEAVY_AUGMENT
    policy = parse_auto_augment(recipe.AUTO_AUGMENT)  # torchvision's RandAugment gets the same n and m
    assert (policy.num_layers, policy.magnitude) == (recipe.RAND_NUM_OPS, recipe.RAND_MAGNITUDE)
    assert recipe.recipe_targets("heavy", gpu=False) == recipe.recipe_targets("heavy", gpu=True) == (
        ("dali-mix", "dataloader-mix", 2.0), ("dali-mix", "dali-light", 0.75))
    assert recipe.recipe_targets("light", gpu=False) == recipe.TARGETS
    assert recipe.recipe_targets("light", gpu=True) == recipe.GPU_TARGETS


def _heavy_contenders(monkeypatch, *, backend: str, timm_missing: str | None):
    """``build_contenders`` for ``--recipe heavy`` without a GPU, with timm's check answering ``timm_missing``."""
    throughput, recipe = load_benchmark("throughput"), load_benchmark("recipe")
    monkeypatch.setattr(throughput, "timm_missing", lambda: timm_missing)
    data = recipe.DataInfo(root=Path("/data"), samples=[], num_classes=4, synthetic=False)
    return throughput.build_contenders(data, _small_settings(), backend=backend, gpu=False, recipe="heavy")


def test_heavy_run_times_ours_on_both_recipes_beside_torchvisions_and_timms_loaders(monkeypatch):
    throughput = load_benchmark("throughput")
    opened = []
    for name in ("dali_stream", "dataloader_stream", "timm_stream", "decode_only_stream"):
        monkeypatch.setattr(throughput, name, lambda *args, name=name, **kwargs: opened.append(
            (name, kwargs.get("recipe", "light"), kwargs.get("mixing"))))
    contenders, skipped = _heavy_contenders(monkeypatch, backend="torchvision", timm_missing=None)
    assert skipped == []
    assert [(c.number, c.key) for c in contenders] == [(1, "dali-mix"), (2, "dali-light"), (0, "decode-only"),
                                                       (3, "dataloader-mix"), (6, "timm-loader")]
    for contender in contenders:
        contender.open()
    assert opened == [("dali_stream", "heavy", True), ("dali_stream", "light", True), ("decode_only_stream", "light", None),
                      ("dataloader_stream", "heavy", None), ("timm_stream", "heavy", None)]
    labels = {c.key: c.label for c in contenders}
    assert labels["dali-mix"] == "DALI train_pipeline on the CPU, heavy recipe, with mixing"
    assert labels["dali-light"] == "DALI train_pipeline on the CPU, light recipe (crop, flip, mixing)"
    assert "torchvision, heavy recipe" in labels["dataloader-mix"] and "erasing" in labels["timm-loader"]
    options = {c.key: c.options for c in contenders}
    assert options == {
        "dali-mix": "train_pipeline(auto_augment='rand-m9-mstd0.5-inc1', re_prob=0.25, re_mode='pixel', re_count=1, "
                    "color_jitter=None, interpolation='bilinear', mix=MixConfig(mixup_alpha=0.8, cutmix_alpha=1.0))",
        "dali-light": "train_pipeline(mix=MixConfig(mixup_alpha=0.8, cutmix_alpha=1.0)): crop, flip and mixing only",
        "decode-only": "",
        "dataloader-mix": "v2: RandomResizedCrop(24), RandomHorizontalFlip(0.5), RandAugment(num_ops=2, magnitude=9, "
                          "interpolation=BILINEAR), PILToTensor(), ToDtype(float32, scale=True), Normalize(), "
                          "RandomErasing(0.25) + RandomChoice([MixUp(alpha=0.8), CutMix(alpha=1.0)]) in the collate_fn",
        "timm-loader": "create_loader(auto_augment='rand-m9-mstd0.5-inc1', re_prob=0.25, re_mode='pixel', re_count=1, "
                       "color_jitter=None, interpolation='bilinear') + FastCollateMixup(mixup_alpha=0.8, cutmix_alpha=1.0)"
                       + ("; posterize to 0 bits gives black, as with Pillow 12"
                          if load_benchmark("timm_loader").zero_bits_refused() else ""),
    }


def test_heavy_run_skips_the_dataloader_recipe_without_torchvision(monkeypatch):
    throughput = load_benchmark("throughput")
    contenders, skipped = _heavy_contenders(monkeypatch, backend="pillow", timm_missing="no timm here")
    assert [c.number for c in contenders] == [1, 2, 0]
    assert [(s.number, s.key, s.reason) for s in skipped] == [(3, "dataloader-mix", throughput.NO_TORCHVISION),
                                                              (6, "timm-loader", "no timm here")]
    assert skipped[0].reason.endswith("the heavy recipe's RandAugment has no Pillow + torch stand-in")
    data = load_benchmark("recipe").DataInfo(root=Path("/data"), samples=[], num_classes=4, synthetic=False)
    with pytest.raises(ValueError, match="the heavy recipe needs torchvision"):
        load_benchmark("baseline").dataloader_parts(data, _small_settings(), backend="pillow", recipe="heavy")


def test_a_missing_library_is_named_in_the_reason(monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name in ("timm", "spdl") else find_spec(name, *args))
    assert load_benchmark("timm_loader").timm_missing() == (
        "timm is not installed (pip install timm, beside a torchvision built for this torch)")
    assert load_benchmark("spdl_loader").spdl_missing() == "SPDL is not installed (pip install spdl: x86-64 Linux only)"


def test_a_library_that_does_not_import_is_named_with_its_error(monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",  # installed, as far as the check can tell
                        lambda name, *args: object() if name in ("timm", "spdl") else find_spec(name, *args))
    monkeypatch.setitem(sys.modules, "timm.data", None)  # import fails, as timm's does beside a broken torchvision
    monkeypatch.setitem(sys.modules, "spdl.io.utils", None)
    assert load_benchmark("timm_loader").timm_missing() == (
        "timm does not import here (ModuleNotFoundError: import of timm.data halted; None in sys.modules)")
    assert load_benchmark("spdl_loader").spdl_missing() == (
        "SPDL does not import here (ModuleNotFoundError: import of spdl.io.utils halted; None in sys.modules)")


@pytest.mark.skipif(importlib.util.find_spec("spdl") is None, reason="SPDL is not installed")
def test_spdl_without_ffmpegs_libraries_names_the_packages_to_install(monkeypatch):
    import spdl.io.utils

    def no_ffmpeg():
        raise RuntimeError("Failed to import libspdl. libavutil.so.57: cannot open shared object file")

    monkeypatch.setattr(spdl.io.utils, "get_ffmpeg_versions", no_ffmpeg)
    assert load_benchmark("spdl_loader").spdl_missing() == (
        "SPDL finds no FFmpeg libraries it can load (FFmpeg 4 to 9); on Debian 12: "
        "apt-get install libavutil57 libavcodec59 libavformat59 libavfilter8 libavdevice59")


@pytest.mark.skipif(TIMM_MISSING is not None, reason=f"timm's loader cannot run here: {TIMM_MISSING}")
def test_timms_loader_is_built_as_train_py_builds_it_with_our_options(make_image_folder):
    timm_loader, recipe = load_benchmark("timm_loader"), load_benchmark("recipe")
    data = _flat_colour_data(make_image_folder)
    loader = timm_loader.timm_loader(data, _small_settings(), device="cpu")
    assert type(loader).__name__ == "PrefetchLoader" and type(loader.loader).__name__ == "MultiEpochsDataLoader"
    assert loader.loader.num_workers == 2 and loader.loader.batch_size == 6 and loader.loader.drop_last
    transforms = loader.loader.dataset.transform.transforms
    assert [type(t).__name__ for t in transforms] == [
        "RandomResizedCropAndInterpolation", "RandomHorizontalFlip", "MaybePILToTensor"]  # no jitter, no erasing
    assert (transforms[0].scale, transforms[0].ratio, transforms[1].p) == (recipe.SCALE, recipe.RATIO, recipe.HFLIP)
    assert str(transforms[0].interpolation).lower().endswith("bilinear")
    mixup = loader.loader.collate_fn
    assert type(mixup).__name__ == "FastCollateMixup"
    assert (mixup.mixup_alpha, mixup.cutmix_alpha, mixup.cutmix_minmax, mixup.mix_prob, mixup.switch_prob,
            mixup.mode, mixup.correct_lam, mixup.label_smoothing, mixup.num_classes) == (
                0.8, 1.0, None, 1.0, 0.5, "batch", True, 0.0, 4)


@pytest.mark.skipif(TIMM_MISSING is not None, reason=f"timm's loader cannot run here: {TIMM_MISSING}")
def test_timms_loader_mixes_normalized_batches_whose_targets_follow_the_pixels(make_image_folder):
    torch.manual_seed(0)
    data = _flat_colour_data(make_image_folder)
    _check_mixed_batches(load_benchmark("timm_loader").timm_stream(data, _small_settings(), device="cpu"))


@pytest.mark.skipif(TIMM_MISSING is not None, reason=f"timm's loader cannot run here: {TIMM_MISSING}")
def test_timms_heavy_loader_adds_randaugment_in_the_workers_and_pixel_erasing_after_normalizing(make_image_folder):
    data = _flat_colour_data(make_image_folder)
    loader = load_benchmark("timm_loader").timm_loader(data, _small_settings(), device="cpu", recipe="heavy")
    transforms = loader.loader.dataset.transform.transforms
    assert [type(t).__name__ for t in transforms] == [
        "RandomResizedCropAndInterpolation", "RandomHorizontalFlip", "RandAugment", "MaybePILToTensor"]
    assert transforms[2].num_layers == 2
    assert {(op.magnitude, op.magnitude_std, op.prob) for op in transforms[2].ops} == {(9, 0.5, 0.5)}
    assert "SolarizeIncreasing" in {op.name for op in transforms[2].ops}  # inc1
    erasing = loader.random_erasing  # PrefetchLoader's, on the normalized batch
    assert (erasing.probability, erasing.mode, erasing.max_count, erasing.per_pixel) == (0.25, "pixel", 1, True)


@pytest.mark.skipif(TIMM_MISSING is not None, reason=f"timm's loader cannot run here: {TIMM_MISSING}")
def test_timms_posterize_to_0_bits_gives_black_whatever_pillow_says(monkeypatch):
    from PIL import ImageOps
    from timm.data import auto_augment

    timm_loader = load_benchmark("timm_loader")
    monkeypatch.setattr(auto_augment, "NAME_TO_OP", dict(auto_augment.NAME_TO_OP))  # restored after the test
    timm_loader.keep_zero_bit_posterize()
    posterize = auto_augment.NAME_TO_OP["PosterizeIncreasing"]
    assert posterize is (timm_loader.posterize_as_pillow_12 if timm_loader.zero_bits_refused()
                         else auto_augment.posterize)
    image = Image.fromarray(np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3) * 3)
    assert not np.asarray(posterize(image, 0)).any()
    assert np.array_equal(np.asarray(posterize(image, 2)), np.asarray(ImageOps.posterize(image, 2)))
    assert posterize(image, 8) is image


@pytest.mark.skipif(not load_benchmark("baseline").torchvision_available(), reason="torchvision does not import here")
def test_torchvisions_heavy_recipe_augments_the_pil_image_and_erases_after_normalizing(make_image_folder):
    baseline = load_benchmark("baseline")
    data = _flat_colour_data(make_image_folder)
    dataset, _ = baseline.dataloader_parts(data, _small_settings(), backend="torchvision", recipe="heavy")
    transforms = dataset.transform.transforms
    assert [type(t).__name__ for t in transforms] == [
        "RandomResizedCrop", "RandomHorizontalFlip", "RandAugment", "PILToTensor", "ToDtype", "Normalize",
        "RandomErasing"]
    assert (transforms[2].num_ops, transforms[2].magnitude, transforms[2].interpolation.value) == (2, 9, "bilinear")
    assert transforms[-1].p == 0.25
    light, _ = baseline.dataloader_parts(data, _small_settings(), backend="torchvision")
    assert [type(t).__name__ for t in light.transform.transforms] == [
        "RandomResizedCrop", "RandomHorizontalFlip", "PILToTensor", "ToDtype", "Normalize"]


@pytest.mark.skipif(SPDL_MISSING is not None, reason=f"SPDL cannot run here: {SPDL_MISSING}")
@pytest.mark.parametrize("backend", ["pillow", "torchvision"])
def test_spdl_pipeline_mixes_normalized_batches_whose_targets_follow_the_pixels(make_image_folder, backend):
    if backend == "torchvision" and not load_benchmark("baseline").torchvision_available():
        pytest.skip("torchvision does not import here: SPDL's contender mixes with the Pillow + torch mixer")
    torch.manual_seed(0)
    data = _flat_colour_data(make_image_folder)
    _check_mixed_batches(load_benchmark("spdl_loader").spdl_stream(data, _small_settings(), backend=backend))


@pytest.mark.skipif(SPDL_MISSING is not None, reason=f"SPDL cannot run here: {SPDL_MISSING}")
def test_spdl_crops_the_drawn_box_and_flips_it(tmp_path):
    import spdl.io

    spdl_loader = load_benchmark("spdl_loader")
    red, green, blue = (torch.tensor(c, dtype=torch.uint8) for c in ([255, 0, 0], [0, 255, 0], [0, 0, 255]))
    pixels = np.zeros((30, 40, 3), np.uint8)  # left half red, right half blue, its top third green
    pixels[:, :20], pixels[:, 20:], pixels[:10, 20:] = red.numpy(), blue.numpy(), green.numpy()
    Image.fromarray(pixels).save(tmp_path / "halves.png")
    packets = spdl.io.demux_image(str(tmp_path / "halves.png"))
    assert (packets.width, packets.height) == (40, 30)
    assert spdl_loader.crop_filter((25, 2, 12, 6), size=8, flip=True) == (
        "crop=12:6:25:2,scale=8:8:flags=bilinear,hflip,format=pix_fmts=rgb24")
    corner = spdl_loader.decode_crop(packets, (25, 2, 12, 6), size=8, flip=False)
    assert corner.shape == (8, 8, 3) and corner.dtype == torch.uint8 and bool((corner == green).all())
    flipped = spdl_loader.decode_crop(spdl.io.demux_image(str(tmp_path / "halves.png")), (0, 10, 40, 20), size=8,
                                      flip=True)
    assert bool((flipped[:, :3] == blue).all()) and bool((flipped[:, -3:] == red).all())


def _records(*speeds: float) -> list[dict]:
    """One round record per speed (images/s), from a quiet machine."""
    return [{"images_per_s": v, "cpu_ms_per_image": 2.0, "other_cpu_share": 0.0, "attempts": 1, "waited_s": 0.0}
            for v in speeds]


def _built_report(speeds: dict[tuple[str, int, str, str], tuple[float, ...]], *, skipped, recipe: str = "light",
                  backend: str = "pillow") -> dict:
    """``build_report`` over contenders given as (key, number, label, options): their round speeds,
    on 2 workers without a GPU; number 0 is the decode-only ceiling."""
    bench, report = load_benchmark("recipe"), load_benchmark("report")
    contenders = [bench.Contender(key, number, label, iter, ceiling=number == 0, options=options)
                  for key, number, label, options in speeds]
    rounds = {key: _records(*values) for (key, *_), values in speeds.items()}
    settings = bench.Settings(batch_size=8, image_size=32, workers=2, warmup=1, batches=1, repeats=3, seed=0,
                              max_other_share=1.0, patience=0.0)
    data = bench.DataInfo(root=Path("/data"), samples=[], num_classes=4, synthetic=False)
    machine = {"cpu": "cpu", "usable_cores": 2, "gpu": None}
    return report.build_report(
        contenders=contenders, skipped=skipped, rounds=rounds, outputs={k: {} for k in rounds}, orders=[],
        settings=settings, data=data, backend=backend, machine=machine, started=dt.datetime(2026, 1, 2),
        argv=["throughput.py"], recipe=recipe)


def _fake_report(*, ceiling: bool = True) -> dict:
    """A report built from given round figures: 2 workers, ours 600/s, the DataLoader 300/s,
    NVIDIA's recipe 450/s, timm's loader 360/s, the decode-only ceiling 1200/s; SPDL skipped."""
    speeds = {("dali-mix", 1, "ours", ""): (580, 600, 620), ("dali-nomix", 2, "ours unmixed", ""): (600, 600, 600),
              ("dataloader-mix", 3, "loader", ""): (300, 300, 300), ("nvidia-recipe", 5, "nvidia", ""): (450, 440, 460),
              ("timm-loader", 6, "timm", ""): (360, 350, 370)}
    if ceiling:
        speeds["decode-only", 0, "decode only", ""] = (1200, 1100, 1300)
    skipped = [load_benchmark("recipe").Skipped("spdl-pipeline", 7, "spdl", "SPDL finds no FFmpeg libraries")]
    return _built_report(speeds, skipped=skipped)


def test_report_gives_per_core_figures_both_ratios_and_the_ceiling():
    built = _fake_report()
    rows = {row["key"]: row for row in built["contenders"]}
    assert [row["number"] for row in built["contenders"]] == [1, 2, 3, 5, 6]
    del rows["dali-nomix"]
    assert {k: (r["images_per_s_per_core"], r["ratio_to_ours"], r["ratio_to_reference"]) for k, r in rows.items()} == {
        "dali-mix": (300.0, 1.0, 2.0), "dataloader-mix": (150.0, 0.5, 1.0), "nvidia-recipe": (225.0, 0.75, 1.5),
        "timm-loader": (180.0, 0.6, 1.2)}
    assert built["skipped"] == [{"key": "spdl-pipeline", "number": 7, "label": "spdl",
                                 "reason": "SPDL finds no FFmpeg libraries"}]
    ceiling = built["ceiling"]
    assert (ceiling["median"], ceiling["images_per_s_per_core"]) == (1200.0, 600.0)
    assert (ceiling["ours_fraction"], ceiling["reference_fraction"]) == (0.5, 0.25)
    assert "ratio_to_ours" not in ceiling and "number" not in ceiling
    markdown = load_benchmark("report").render_markdown(built)
    assert """| # | contender | images/s (median) | min | max | IQR | images/s per core | CPU ms/image | vs #1 | vs #3 |
|---|---|---:|---:|---:|---:|---:|---:|---:|---:|
| 1 | ours | 600.0 | 580.0 | 620.0 | 590.0-610.0 | 300.0 | 2.00 | 1.00x | 2.00x |
| 2 | ours unmixed | 600.0 | 600.0 | 600.0 | 600.0-600.0 | 300.0 | 2.00 | 1.00x | 2.00x |
| 3 | loader | 300.0 | 300.0 | 300.0 | 300.0-300.0 | 150.0 | 2.00 | 0.50x | 1.00x |
| 5 | nvidia | 450.0 | 440.0 | 460.0 | 445.0-455.0 | 225.0 | 2.00 | 0.75x | 1.50x |
| 6 | timm | 360.0 | 350.0 | 370.0 | 355.0-365.0 | 180.0 | 2.00 | 0.60x | 1.20x |
| ceiling | decode only | 1200.0 | 1100.0 | 1300.0 | 1150.0-1250.0 | 600.0 | 2.00 | - | - |

- Decode-only ceiling (a reference, not a contender): 1200.0 images/s, 600.0 per core; ours (#1) / decode-only = 0.50, \
#3 / decode-only = 0.25
- #7 (spdl) did not run: SPDL finds no FFmpeg libraries
- #1 / #3 = 2.000 (target >= 3.0): missed
- #1 / #2 = 1.000 (target >= 0.97): met
- #1 / decode-only = 0.500 (target >= 0.7): missed
""" in markdown


def test_report_without_the_ceiling_has_no_ceiling_line():
    built = _fake_report(ceiling=False)
    assert built["ceiling"] is None
    markdown = load_benchmark("report").render_markdown(built)
    assert "ceiling" not in markdown and "decode-only" not in markdown and "| 5 | nvidia |" in markdown
    assert [(t["denominator"], t["met"]) for t in built["targets"]] == [("dataloader-mix", False), ("dali-nomix", True)]


def test_light_report_reads_as_before_and_records_its_recipe():
    built = _fake_report()
    assert built["recipe"] == "light"
    assert [(t["numerator"], t["denominator"], t["minimum"]) for t in built["targets"]] == list(
        load_benchmark("recipe").TARGETS)
    markdown = load_benchmark("report").render_markdown(built)
    assert markdown.startswith("### 2026-01-02: cpu, 2 cores, no GPU\n\nbatch 8, 32 px,")
    assert "baseline recipe: pillow;" in markdown and "heavy" not in markdown and "Recipe" not in markdown


HEAVY_SPEEDS = {  # (key, number, label, options): images/s per round
    ("dali-mix", 1, "ours heavy", "train_pipeline(heavy)"): (580, 600, 620),
    ("dali-light", 2, "ours light", "train_pipeline(light)"): (700, 750, 800),
    ("dataloader-mix", 3, "loader heavy", "v2(heavy)"): (250, 250, 250),
    ("timm-loader", 6, "timm heavy", "create_loader(heavy)"): (300, 290, 310),
    ("decode-only", 0, "decode only", ""): (1200, 1100, 1300),
}


def _heavy_report(*, reference: bool = True) -> dict:
    """A heavy run's report: ours 600/s, ours on the light recipe 750/s, the DataLoader 250/s (or
    skipped for want of torchvision), timm's loader 300/s, the decode-only ceiling 1200/s."""
    if reference:
        return _built_report(HEAVY_SPEEDS, skipped=[], recipe="heavy", backend="torchvision")
    speeds = {contender: v for contender, v in HEAVY_SPEEDS.items() if contender[0] != "dataloader-mix"}
    skipped = [load_benchmark("recipe").Skipped("dataloader-mix", 3, "loader heavy", "no torchvision here")]
    return _built_report(speeds, skipped=skipped, recipe="heavy")


def test_heavy_report_names_its_recipe_lists_each_contenders_options_and_checks_its_targets():
    built = _heavy_report()
    assert built["recipe"] == "heavy"
    assert {row["key"]: row["options"] for row in built["contenders"]} == {
        "dali-mix": "train_pipeline(heavy)", "dali-light": "train_pipeline(light)", "dataloader-mix": "v2(heavy)",
        "timm-loader": "create_loader(heavy)"}
    assert built["targets"] == [
        {"numerator": "dali-mix", "denominator": "dataloader-mix", "minimum": 2.0, "ratio": 2.4, "met": True},
        {"numerator": "dali-mix", "denominator": "dali-light", "minimum": 0.75, "ratio": 0.8, "met": True}]
    markdown = load_benchmark("report").render_markdown(built)
    assert markdown.startswith("### 2026-01-02: cpu, 2 cores, no GPU; heavy recipe\n\nbatch 8, 32 px,")
    assert "baseline recipe: torchvision;" in markdown
    assert """.

Recipe: heavy (timm's ConvNeXt/DeiT-style training input: random-resized-crop, flip, RandAugment, random erasing, \
MixUp/CutMix). Options per contender:

- #1: train_pipeline(heavy)
- #2: train_pipeline(light)
- #3: v2(heavy)
- #6: create_loader(heavy)

| # | contender |""" in markdown
    assert "| 2 | ours light | 750.0 | 700.0 | 800.0 | 725.0-775.0 | 375.0 | 2.00 | 1.25x | 3.00x |" in markdown
    assert markdown.endswith("- #1 / #3 = 2.400 (target >= 2.0): met\n- #1 / #2 = 0.800 (target >= 0.75): met\n")
    built = _built_report({**HEAVY_SPEEDS, ("dali-mix", 1, "ours heavy", "train_pipeline(heavy)"): (400, 400, 400)},
                          skipped=[], recipe="heavy")
    assert [(t["ratio"], t["met"]) for t in built["targets"]] == [(1.6, False), (400 / 750, False)]


def test_heavy_report_without_the_dataloader_recipe_says_n_a_and_not_measured(tmp_path, monkeypatch):
    built = _heavy_report(reference=False)
    assert [row["number"] for row in built["contenders"]] == [1, 2, 6]
    assert all(row["ratio_to_reference"] is None for row in built["contenders"])
    assert built["ceiling"]["reference_fraction"] is None and built["ceiling"]["ours_fraction"] == 0.5
    assert built["targets"] == [
        {"numerator": "dali-mix", "denominator": "dataloader-mix", "minimum": 2.0, "ratio": None, "met": None},
        {"numerator": "dali-mix", "denominator": "dali-light", "minimum": 0.75, "ratio": 0.8, "met": True}]
    markdown = load_benchmark("report").render_markdown(built)
    assert "baseline recipe: did not run;" in markdown and "- #3: " not in markdown
    assert "| 1 | ours heavy | 600.0 | 580.0 | 620.0 | 590.0-610.0 | 300.0 | 2.00 | 1.00x | n/a |" in markdown
    assert "ours (#1) / decode-only = 0.50, #3 / decode-only = n/a\n" in markdown
    assert markdown.endswith("- #3 (loader heavy) did not run: no torchvision here\n"
                             "- #1 / #3 (target >= 2.0): not measured, #3 did not run\n"
                             "- #1 / #2 = 0.800 (target >= 0.75): met\n")
    labels, texts = _drawn_chart(built, tmp_path / "heavy.png", monkeypatch)
    assert [label.split(" ", 1)[0] for label in labels] == ["decode-only", "#1", "#2", "#6"]
    assert "1200/s, 600/core; #1 reaches 0.50 of it, #3 n/a" in texts
    assert "600/s, 300/core, 1.00x #1, n/a #3" in texts and "#3 did not run: no torchvision here" in texts


def _drawn_chart(report: dict, path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    """Draw ``report``'s chart; read back its bar names (top first, unwrapped) and every text on it."""
    import matplotlib.pyplot as plt

    close, figures = plt.close, []
    monkeypatch.setattr(plt, "close", figures.append)
    load_benchmark("report").write_chart(report, path)
    (figure,) = figures
    axes = figure.axes[0]
    labels = [label.get_text().replace("\n", " ") for label in axes.get_yticklabels()][::-1]
    texts = [text.get_text() for text in [*axes.texts, *figure.texts]]
    close(figure)
    assert path.is_file()
    return labels, texts


def test_chart_draws_every_contender_the_ceiling_and_why_one_did_not_run(tmp_path, monkeypatch):
    built = _fake_report()
    labels, texts = _drawn_chart(built, tmp_path / "chart.png", monkeypatch)
    assert labels == ["decode-only ceiling (a reference: reading and decoding only)", "#1 ours", "#2 ours unmixed",
                      "#3 loader", "#5 nvidia", "#6 timm"]
    assert "1200/s, 600/core; #1 reaches 0.50 of it, #3 0.25" in texts
    assert "360/s, 180/core, 0.60x #1, 1.20x #3" in texts and "600/s, 300/core, 1.00x #1, 2.00x #3" in texts
    assert "#7 did not run: SPDL finds no FFmpeg libraries" in texts
    labels, texts = _drawn_chart(_fake_report(ceiling=False), tmp_path / "bare.png", monkeypatch)
    assert labels[0] == "#1 ours" and len(labels) == 5


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


# ------------------------------------------------------------------ the stage benchmark and the GPU check


def _stage_rows(*ratios: tuple[str, bool, float]) -> list[dict]:
    return [{"name": name, "ours": ours, "seconds": 0.01 * r, "images_per_s": 256 / (0.01 * r),
             "gb_per_s": 15.4 / r, "time_over_copy": r} for name, ours, r in ratios]


def test_stage_target_is_our_slowest_configuration_against_the_copy():
    stage = load_benchmark("stage")
    rows = _stage_rows(("copy (floor)", False, 1.0), ("mixup", True, 1.2), ("cutmix", True, 1.6),
                       ("cutmix, DALI's operators", False, 9.0))
    assert stage.stage_target(rows) == {"contender": "cutmix", "ratio": 1.6, "maximum": 1.5, "met": False}
    assert stage.stage_target(rows[:2])["met"] is True
    assert stage.stage_target([rows[0], rows[3]]) is None  # our operator did not run
    assert stage.render_table(rows[1:2]) == ("| contender | images/s | GB/s written | time / copy time |\n"
                                             "|---|---:|---:|---:|\n| mixup | 21,333 | 12.83 | 1.20 |")


@pytest.mark.skipif(cuda_available(), reason="a CUDA device is here: the check would run")
def test_gpu_check_without_a_gpu_says_so_and_exits_3(tmp_path):
    report = tmp_path / "check.md"
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--report", str(report)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 3
    assert done.stderr == ("gpu_check: no CUDA device that DALI can use here (DALI finds no CUDA device).\n"
                           "The GPU check needs a machine with an NVIDIA GPU and its driver; nothing was run, "
                           "no report written (exit status 3).\n")
    assert done.stdout == "" and not report.exists() and not report.with_suffix("").exists()


PYTEST_OUTPUT = """\
....s.F
=========================== short test summary info ============================
SKIPPED [2] tests/test_gpu.py:187: needs a CUDA device; DALI finds none
FAILED tests/test_gpu.py::test_x - AssertionError: boom
3 passed, 1 failed, 2 skipped, 5 deselected, 1 warning in 4.20s
"""


def test_gpu_check_reads_pytests_summary():
    check = load_benchmark("gpu_check")
    assert check.pytest_counts(PYTEST_OUTPUT) == {"passed": 3, "failed": 1, "skipped": 2, "deselected": 5,
                                                  "warning": 1}
    assert check.pytest_counts("collected\n===== 7 passed, 2 errors in 61.02s (0:01:01) =====\n") == {
        "passed": 7, "error": 2}
    assert check.pytest_counts("Traceback: no summary\n") == {}
    assert check.pytest_notes(PYTEST_OUTPUT) == [
        "SKIPPED [2] tests/test_gpu.py:187: needs a CUDA device; DALI finds none",
        "FAILED tests/test_gpu.py::test_x - AssertionError: boom"]


def test_gpu_check_tests_step_passes_only_with_every_test_run_and_passed():
    check = load_benchmark("gpu_check")
    ok = check.tests_result("pytest", 0, "....\n4 passed, 9 deselected in 2.00s\n", 2.5)
    assert ok.passed and ok.details == "- 4 passed, 9 deselected" and ok.returncode == 0
    output = "..s\nSKIPPED [1] t.py:3: no GPU operator\n2 passed, 1 skipped in 1.00s\n"
    skipped = check.tests_result("pytest", 0, output, 1.0)
    assert not skipped.passed
    assert skipped.details == "- 2 passed, 1 skipped\n- `SKIPPED [1] t.py:3: no GPU operator`"
    stopped = check.tests_result("pytest", None, "....\n[stopped after 300 s]\n", 300.0)
    assert not stopped.passed
    assert stopped.details == "- no summary line\n\n```text\n....\n[stopped after 300 s]\n```"


def test_gpu_check_takes_the_targets_from_the_benchmarks_figures():
    check, stage = load_benchmark("gpu_check"), load_benchmark("stage")
    rows = _stage_rows(("copy (floor)", False, 1.0), ("mixup", True, 1.25))
    figures = {"batch_size": 256, "input": {"shape": [224, 224, 3], "dtype": "uint8", "layout": "HWC"},
               "output": "float32 CHW normalized", "floor": "a device-to-device copy of the output batch",
               "repeats": 5, "iterations": 20, "rows": rows, "target": stage.stage_target(rows)}
    step, target = check.stage_result("stage.py", 0, "", 30.0, figures)
    assert step.passed and step.details.endswith(stage.render_table(rows))
    assert (target.ratio, target.met, target.bound) == (1.25, True, "<= 1.5")
    assert target.label.endswith("(256 x 224 x 224 x 3 uint8, slowest: mixup)")
    _, target = check.stage_result("stage.py", 0, "", 30.0, {**figures, "target": None})
    assert target.ratio is None and not target.met and "GPU operator is unavailable" in target.note
    step, target = check.stage_result("stage.py", 1, "Traceback\nRuntimeError: boom\n", 3.0, None)
    assert not step.passed and "RuntimeError: boom" in step.details and target.note == "the stage step failed"

    gpu_run = {"machine": {"gpu": "NVIDIA H200"}, "targets": [
        {"numerator": "dali-mix", "denominator": "dataloader-gpumix", "minimum": 3.0, "ratio": 3.5, "met": True},
        {"numerator": "dali-mix", "denominator": "dali-nomix", "minimum": 0.99, "ratio": 0.98, "met": False}]}
    step, targets = check.throughput_result("throughput.py", 0, "", 60.0, gpu_run, "### run: H200\n\n| table |\n")
    assert step.passed and step.details == "run: H200\n\n| table |"
    assert [(t.ratio, t.met, t.bound) for t in targets] == [(0.98, False, ">= 0.99"), (3.5, True, ">= 3")]
    cpu_run = {"machine": {"gpu": None}, "targets": [
        {"numerator": "dali-mix", "denominator": "dali-nomix", "minimum": 0.97, "ratio": 0.98, "met": True}]}
    _, targets = check.throughput_result("throughput.py", 0, "", 60.0, cpu_run, "### run\n")
    assert all(t.ratio is None and not t.met and t.note == "no GPU contenders ran: torch has no CUDA here"
               for t in targets)


def test_gpu_check_report_is_the_expected_markdown():
    check = load_benchmark("gpu_check")
    steps = [
        check.StepResult(name="build", command="python -m dali_mixup build", returncode=0, seconds=12.4, passed=True,
                         details="```text\nbuilt\n```"),
        check.StepResult(name="tests", command="python -m pytest -m gpu tests", returncode=None, seconds=300.0,
                         passed=False, details="- no summary line"),
    ]
    targets = [check.Target(label="stage", bound="<= 1.5", ratio=1.2345, met=True),
               check.Target(label="mixing", bound=">= 0.99", ratio=None, met=False, note="the step failed")]
    machine = {"GPU": "NVIDIA H200, 143771 MiB", "driver": "570.1"}
    report = check.render_report(date="2026-11-30T12:00:00+00:00", machine=machine, steps=steps, targets=targets)
    assert report == """\
# GPU check, 2026-11-30T12:00:00+00:00: failed

| machine | |
|---|---|
| GPU | NVIDIA H200, 143771 MiB |
| driver | 570.1 |

## Targets

| target | measured | bound | result |
|---|---:|---:|---|
| stage | 1.234 | <= 1.5 | met |
| mixing | n/a | >= 0.99 | not measured: the step failed |

## Steps

| step | result | exit status | time | command |
|---|---|---:|---:|---|
| build | passed | 0 | 12 s | `python -m dali_mixup build` |
| tests | failed | stopped at its time limit | 300 s | `python -m pytest -m gpu tests` |

### build

```text
built
```

### tests

- no summary line
"""
    assert check.exit_status(steps, targets) == 1
    assert check.exit_status(steps[:1], targets[:1]) == 0
    assert check.render_report(date="d", machine={}, steps=steps[:1], targets=targets[:1]).startswith(
        "# GPU check, d: passed\n")


def test_gpu_check_stops_a_step_at_its_time_limit_with_every_process_it_started(tmp_path):
    check = load_benchmark("gpu_check")
    child = ("import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', 'import time; "
             "time.sleep(60)']); print(p.pid, flush=True); time.sleep(60)")
    log = tmp_path / "step.log"
    returncode, output, seconds = check.run_command([sys.executable, "-c", child], timeout=3, env=dict(os.environ),
                                                    log=log)
    assert returncode is None and output.endswith("\n[stopped after 3 s]\n") and 3 <= seconds < 30
    assert log.read_text() == output
    grandchild = int(output.split()[0])
    for _ in range(50):
        try:  # killed: gone once reaped, a zombie ("Z") until then
            if Path(f"/proc/{grandchild}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                break
        except FileNotFoundError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"process {grandchild}, started by the step, outlived it")
    returncode, output, _ = check.run_command([sys.executable, "-c", "print('hi'); raise SystemExit(4)"],
                                              timeout=30, env=dict(os.environ), log=log)
    assert (returncode, output) == (4, "hi\n")

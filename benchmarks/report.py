"""The throughput benchmark's report: the machine, the recipe, the figures per contender and of
the decode-only ceiling, the contenders skipped and why, the Markdown table, the JSON file and the
bar chart."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import textwrap
from collections.abc import Sequence
from dataclasses import asdict
from importlib import metadata
from pathlib import Path

import numpy as np
import nvidia.dali as dali
import torch

from benchmarks.recipe import OURS, QUIET_SHARE, REFERENCE, Contender, DataInfo, Settings, Skipped, recipe_targets
from benchmarks.timing import summarize


def describe_code() -> dict[str, object]:
    """The repository's commit and whether the working tree differs from it (None outside git)."""
    repo = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=10)
        except OSError:
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "--short", "HEAD")
    changes = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "modified": None if changes is None else bool(changes)}


def describe_machine() -> dict[str, object]:
    """Cores, CPU, memory, GPU, OS and the versions of everything measured."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    # DALI's own version too: it may come from an unpacked folder on PYTHONPATH, with no package metadata.
    versions = {"python": platform.python_version(), "dali": dali.__version__}
    for package in ("torch", "torchvision", "timm", "spdl", "nvidia-dali-cuda120", "nvidia-dali-cuda130", "numpy",
                    "pillow", "dali-mixup"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "os": platform.platform(),
        "torch_threads": torch.get_num_threads(),
        "versions": versions,
    }


def median_or_none(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.median(known)) if known else None


def figures(contenders: Sequence[Contender], rounds: dict[str, list[dict]], outputs: dict[str, dict], *,
            workers: int) -> tuple[list[dict], dict | None]:
    """Each contender's row (in number order) and the decode-only ceiling's (None where it did not
    run): median images/s and its spread over the rounds, per core (of the ``workers`` threads or
    processes each one gets), CPU time per image, the augmentation options it runs; each
    contender's ratio to ours (with mixing) and to the DataLoader recipe, and the share of the
    ceiling that each of those two reaches (None against a DataLoader recipe that did not run)."""
    speed = {key: [r["images_per_s"] for r in records] for key, records in rounds.items()}
    ours = summarize(speed[OURS])["median"]
    reference = summarize(speed[REFERENCE])["median"] if REFERENCE in speed else None
    rows, ceiling = [], None
    for c in sorted(contenders, key=lambda c: c.number):
        stats = summarize(speed[c.key])
        row = {"key": c.key, "label": c.label, **stats, "images_per_s_per_core": stats["median"] / workers,
               "cpu_ms_per_image": median_or_none([r["cpu_ms_per_image"] for r in rounds[c.key]]),
               "rounds": rounds[c.key], "output": outputs[c.key], "options": c.options}
        if c.ceiling:
            ceiling = {**row, "ours_fraction": ours / stats["median"],
                       "reference_fraction": None if reference is None else reference / stats["median"]}
        else:
            rows.append({"key": c.key, "number": c.number, **row, "ratio_to_ours": stats["median"] / ours,
                         "ratio_to_reference": None if reference is None else stats["median"] / reference})
    return rows, ceiling


def check_targets(targets: Sequence[tuple[str, str, float]], medians: dict[str, float],
                  skipped: Sequence[Skipped]) -> list[dict]:
    """Each target's ratio of medians and whether it is met; one whose contender was skipped is
    kept, not measured (ratio and met None), and one whose contender is not in this run left out."""
    missing = {s.key for s in skipped}
    checked = []
    for num, den, minimum in targets:
        if num in medians and den in medians:
            ratio = medians[num] / medians[den]
            checked.append({"numerator": num, "denominator": den, "minimum": minimum, "ratio": ratio,
                            "met": ratio >= minimum})
        elif num in missing or den in missing:
            checked.append({"numerator": num, "denominator": den, "minimum": minimum, "ratio": None, "met": None})
    return checked


def build_report(
    *, contenders: Sequence[Contender], skipped: Sequence[Skipped], rounds: dict[str, list[dict]],
    outputs: dict[str, dict], orders: list[list[str]], settings: Settings, data: DataInfo, backend: str,
    machine: dict, started: dt.datetime, argv: Sequence[str], recipe: str = "light",
) -> dict[str, object]:
    """Every figure of the run, the recipe it ran and its targets, and the contenders that could
    not run with the reason, as written to results.json."""
    rows, ceiling = figures(contenders, rounds, outputs, workers=settings.workers)
    medians = {row["key"]: row["median"] for row in rows}
    if ceiling is not None:
        medians[ceiling["key"]] = ceiling["median"]
    targets = check_targets(recipe_targets(recipe, gpu=machine["gpu"] is not None), medians, skipped)
    return {
        "date": started.isoformat(timespec="seconds"),
        "command": " ".join(argv),
        "recipe": recipe,
        "settings": asdict(settings),
        "data": {"root": str(data.root), "synthetic": data.synthetic, "images": len(data.samples),
                 "classes": data.num_classes},
        "baseline_backend": backend,
        "reference": REFERENCE,
        "ours": OURS,
        "machine": machine,
        "code": describe_code(),
        "round_orders": orders,
        "contenders": rows,
        "ceiling": ceiling,
        "skipped": [asdict(s) for s in sorted(skipped, key=lambda s: s.number)],
        "targets": targets,
    }


def describe_commit(code: dict) -> str:
    if code["commit"] is None:
        return "not a git checkout"
    return code["commit"] + (" with local changes" if code["modified"] else "")


def ratio_text(ratio: float | None) -> str:
    """A ratio as the table and the chart show it: "n/a" against a contender that did not run."""
    return "n/a" if ratio is None else f"{ratio:.2f}x"


def fraction_text(fraction: float | None) -> str:
    return "n/a" if fraction is None else f"{fraction:.2f}"


def baseline_text(report: dict) -> str:
    """The DataLoader recipe's library (torchvision, or the Pillow + torch stand-in), or that it did not run."""
    ran = any(r["key"] == report["reference"] for r in report["contenders"])
    return report["baseline_backend"] if ran else "did not run"


def recipe_lines(report: dict) -> list[str]:
    """For a heavy run, the Markdown lines that name the recipe and each contender's options;
    none for a light run, whose report reads as it always has."""
    if report["recipe"] == "light":
        return []
    return ["Recipe: heavy (timm's ConvNeXt/DeiT-style training input: random-resized-crop, flip, "
            "RandAugment, random erasing, MixUp/CutMix). Options per contender:", "",
            *[f"- #{r['number']}: {r['options']}" for r in report["contenders"] if r["options"]], ""]


def figure_cells(r: dict) -> str:
    """The table cells a contender and the ceiling share: median, min, max, IQR, per core, CPU ms/image."""
    cpu = "n/a" if r["cpu_ms_per_image"] is None else f"{r['cpu_ms_per_image']:.2f}"
    return (f"{r['median']:.1f} | {r['min']:.1f} | {r['max']:.1f} | {r['q1']:.1f}-{r['q3']:.1f} "
            f"| {r['images_per_s_per_core']:.1f} | {cpu}")


def render_markdown(report: dict) -> str:
    """The run as a Markdown section: settings line, table, targets."""
    m, s, d = report["machine"], report["settings"], report["data"]
    gpu = m["gpu"] or "no GPU"
    heavy = "" if report["recipe"] == "light" else "; heavy recipe"
    lines = [
        f"### {report['date'][:10]}: {m['cpu']}, {m['usable_cores']} cores, {gpu}{heavy}",
        "",
        f"batch {s['batch_size']}, {s['image_size']} px, {s['workers']} threads/workers per contender, "
        f"{s['repeats']} rounds of {s['batches']} timed batches, each on a fresh instance after {s['warmup']} warm-up batches; "
        f"data: {'built-in synthetic set' if d['synthetic'] else d['root']} ({d['images']} images, "
        f"{d['classes']} classes); baseline recipe: {baseline_text(report)}; code: {describe_commit(report['code'])}.",
        "",
        *recipe_lines(report),
        "| # | contender | images/s (median) | min | max | IQR | images/s per core | CPU ms/image "
        "| vs #1 | vs #3 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["contenders"]:
        lines.append(f"| {r['number']} | {r['label']} | {figure_cells(r)} "
                     f"| {r['ratio_to_ours']:.2f}x | {ratio_text(r['ratio_to_reference'])} |")
    ceiling = report.get("ceiling")
    if ceiling is not None:
        lines.append(f"| ceiling | {ceiling['label']} | {figure_cells(ceiling)} | - | - |")
    lines.append("")
    numbers = {r["key"]: f"#{r['number']}" for r in [*report["contenders"], *report["skipped"]]}
    if ceiling is not None:
        numbers[ceiling["key"]] = "decode-only"
    if ceiling is not None:
        lines.append(f"- Decode-only ceiling (a reference, not a contender): {ceiling['median']:.1f} images/s, "
                     f"{ceiling['images_per_s_per_core']:.1f} per core; ours ({numbers[report['ours']]}) / decode-only = "
                     f"{ceiling['ours_fraction']:.2f}, {numbers[report['reference']]} / decode-only = "
                     f"{fraction_text(ceiling['reference_fraction'])}")
    for s in report["skipped"]:
        lines.append(f"- #{s['number']} ({s['label']}) did not run: {s['reason']}")
    for t in report["targets"]:
        pair = f"{numbers[t['numerator']]} / {numbers[t['denominator']]}"
        if t["ratio"] is None:
            absent = " and ".join(numbers[x["key"]] for x in report["skipped"]
                                  if x["key"] in (t["numerator"], t["denominator"]))
            lines.append(f"- {pair} (target >= {t['minimum']}): not measured, {absent} did not run")
        else:
            lines.append(f"- {pair} = {t['ratio']:.3f} (target >= {t['minimum']}): {'met' if t['met'] else 'missed'}")
    records = [x for r in [*report["contenders"], *([ceiling] if ceiling else [])] for x in r["rounds"]]
    redone, waited = sum(x["attempts"] - 1 for x in records), sum(x["waited_s"] for x in records)
    if redone or waited:
        lines.append(f"- Other processes shared the CPU: the run waited {waited:.0f} s for them in all and "
                     f"ran {redone} disturbed round(s) again.")
    shares = [x["other_cpu_share"] for x in records if x["other_cpu_share"] is not None]
    if shares and max(shares) > QUIET_SHARE:
        lines.append(f"- Note: other processes took up to {100 * max(shares):.0f}% of the CPU in a timed "
                     "round (see other_cpu_share in results.json); figures may be low or noisy.")
    return "\n".join(lines) + "\n"


def chart_bars(report: dict) -> list[dict]:
    """The chart's bars, from the top: the decode-only ceiling (where it ran), then every contender
    in number order; each with its name, its figures and the text written beside it."""
    bars = []
    ceiling = report.get("ceiling")
    if ceiling is not None:
        text = (f"{ceiling['median']:.0f}/s, {ceiling['images_per_s_per_core']:.0f}/core; "
                f"#1 reaches {ceiling['ours_fraction']:.2f} of it, #3 {fraction_text(ceiling['reference_fraction'])}")
        bars.append({"name": "decode-only ceiling (a reference: reading and decoding only)", "row": ceiling,
                     "ceiling": True, "text": text})
    for r in report["contenders"]:
        bars.append({"name": f"#{r['number']} {r['label']}", "row": r, "ceiling": False,
                     "text": f"{r['median']:.0f}/s, {r['images_per_s_per_core']:.0f}/core, "
                             f"{r['ratio_to_ours']:.2f}x #1, {ratio_text(r['ratio_to_reference'])} #3"})
    return bars


def write_chart(report: dict, path: Path) -> None:
    """Horizontal bars of median images/s with whiskers from min to max, per core and the ratios to
    #1 and #3 beside each; the decode-only ceiling as a red bar and a dashed line across; the
    contenders that did not run, and why, below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bars = chart_bars(report)[::-1]  # barh draws the first at the bottom
    rows = [b["row"] for b in bars]
    notes = "\n".join(textwrap.fill(f"#{s['number']} did not run: {s['reason']}", 125) for s in report["skipped"])
    notes_height = 0.18 * (notes.count("\n") + 1) if notes else 0.0  # inches
    fig, ax = plt.subplots(figsize=(11, 1.6 + 0.8 * len(bars) + notes_height))
    ax.barh(range(len(bars)), [r["median"] for r in rows], capsize=4,
            xerr=[[r["median"] - r["min"] for r in rows], [r["max"] - r["median"] for r in rows]],
            color=["#c44e52" if b["ceiling"] else "#4c72b0" for b in bars])
    ax.set_yticks(range(len(bars)), [textwrap.fill(b["name"], 40) for b in bars])
    for y, b in enumerate(bars):
        ax.annotate(b["text"], (b["row"]["max"], y), xytext=(6, 0), textcoords="offset points", va="center",
                    fontsize=9, bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1})
    ceiling = report.get("ceiling")
    if ceiling is not None:
        ax.axvline(ceiling["median"], color="#c44e52", linestyle="--", alpha=0.6, zorder=0)
    m, s = report["machine"], report["settings"]
    ax.set_xlabel("images/s: median of rounds, whiskers min-max; dashed: decode-only ceiling\nbeside each bar: "
                  f"median, per core, ratios to #1 (ours) and #3 (DataLoader, {baseline_text(report)})")
    recipe = "" if report["recipe"] == "light" else "heavy recipe (RandAugment, random erasing): "
    ax.set_title(f"{recipe}batch {s['batch_size']}, {s['image_size']} px, {s['workers']} cores: {m['cpu']}",
                 fontsize=9)
    ax.set_xlim(0, max(r["max"] for r in rows) * 1.8)
    if notes:
        fig.text(0.01, 0.01, notes, fontsize=8, va="bottom")
    fig.tight_layout(rect=(0, notes_height / fig.get_figheight(), 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_outputs(report: dict, out: Path) -> str:
    """results.json, results.md and throughput.png under ``out``; returns the Markdown."""
    out.mkdir(parents=True, exist_ok=True)
    markdown = render_markdown(report)
    (out / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "results.md").write_text(markdown)
    write_chart(report, out / "throughput.png")
    return markdown

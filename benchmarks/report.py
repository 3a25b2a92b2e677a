"""The throughput benchmark's report: the machine, the figures per contender, the Markdown
table, the JSON file and the bar chart."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
from collections.abc import Sequence
from dataclasses import asdict
from importlib import metadata
from pathlib import Path

import numpy as np
import nvidia.dali as dali
import torch

from benchmarks.recipe import GPU_TARGETS, QUIET_SHARE, REFERENCE, TARGETS, Contender, DataInfo, Settings
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
    for package in ("torch", "torchvision", "nvidia-dali-cuda120", "nvidia-dali-cuda130", "numpy", "pillow",
                    "dali-mixup"):
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


def build_report(
    *, contenders: Sequence[Contender], rounds: dict[str, list[dict]], outputs: dict[str, dict],
    orders: list[list[str]], settings: Settings, data: DataInfo, backend: str, machine: dict,
    started: dt.datetime, argv: Sequence[str],
) -> dict[str, object]:
    """Every figure of the run, as written to results.json."""
    speed = {key: [r["images_per_s"] for r in records] for key, records in rounds.items()}
    reference = summarize(speed[REFERENCE])["median"]
    rows = []
    for c in sorted(contenders, key=lambda c: c.number):
        stats = summarize(speed[c.key])
        rows.append({"key": c.key, "number": c.number, "label": c.label, **stats,
                     "ratio_to_reference": stats["median"] / reference,
                     "cpu_ms_per_image": median_or_none([r["cpu_ms_per_image"] for r in rounds[c.key]]),
                     "rounds": rounds[c.key], "output": outputs[c.key]})
    medians = {row["key"]: row["median"] for row in rows}
    targets = [
        {"numerator": num, "denominator": den, "minimum": minimum,
         "ratio": medians[num] / medians[den], "met": medians[num] / medians[den] >= minimum}
        for num, den, minimum in (GPU_TARGETS if machine["gpu"] is not None else TARGETS)
    ]
    return {
        "date": started.isoformat(timespec="seconds"),
        "command": " ".join(argv),
        "settings": asdict(settings),
        "data": {"root": str(data.root), "synthetic": data.synthetic, "images": len(data.samples),
                 "classes": data.num_classes},
        "baseline_backend": backend,
        "reference": REFERENCE,
        "machine": machine,
        "code": describe_code(),
        "round_orders": orders,
        "contenders": rows,
        "targets": targets,
    }


def describe_commit(code: dict) -> str:
    if code["commit"] is None:
        return "not a git checkout"
    return code["commit"] + (" with local changes" if code["modified"] else "")


def render_markdown(report: dict) -> str:
    """The run as a Markdown section: settings line, table, targets."""
    m, s, d = report["machine"], report["settings"], report["data"]
    gpu = m["gpu"] or "no GPU"
    lines = [
        f"### {report['date'][:10]}: {m['cpu']}, {m['usable_cores']} cores, {gpu}",
        "",
        f"batch {s['batch_size']}, {s['image_size']} px, {s['workers']} threads/workers per contender, "
        f"{s['repeats']} rounds of {s['batches']} timed batches, each on a fresh instance after {s['warmup']} warm-up batches; "
        f"data: {'built-in synthetic set' if d['synthetic'] else d['root']} ({d['images']} images, "
        f"{d['classes']} classes); baseline recipe: {report['baseline_backend']}; code: {describe_commit(report['code'])}.",
        "",
        "| # | contender | images/s (median) | min | max | IQR | CPU ms/image | vs #3 |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["contenders"]:
        cpu = "n/a" if r["cpu_ms_per_image"] is None else f"{r['cpu_ms_per_image']:.2f}"
        lines.append(f"| {r['number']} | {r['label']} | {r['median']:.1f} | {r['min']:.1f} | {r['max']:.1f} "
                     f"| {r['q1']:.1f}-{r['q3']:.1f} | {cpu} | {r['ratio_to_reference']:.2f}x |")
    lines.append("")
    numbers = {r["key"]: r["number"] for r in report["contenders"]}
    for t in report["targets"]:
        lines.append(f"- #{numbers[t['numerator']]} / #{numbers[t['denominator']]} = {t['ratio']:.3f} "
                     f"(target >= {t['minimum']}): {'met' if t['met'] else 'missed'}")
    records = [x for r in report["contenders"] for x in r["rounds"]]
    redone, waited = sum(x["attempts"] - 1 for x in records), sum(x["waited_s"] for x in records)
    if redone or waited:
        lines.append(f"- Other processes shared the CPU: the run waited {waited:.0f} s for them in all and "
                     f"ran {redone} disturbed round(s) again.")
    shares = [x["other_cpu_share"] for x in records if x["other_cpu_share"] is not None]
    if shares and max(shares) > QUIET_SHARE:
        lines.append(f"- Note: other processes took up to {100 * max(shares):.0f}% of the CPU in a timed "
                     "round (see other_cpu_share in results.json); figures may be low or noisy.")
    return "\n".join(lines) + "\n"


def write_chart(report: dict, path: Path) -> None:
    """Horizontal bars of median images/s, whiskers from min to max, ratio to #3 on each bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["contenders"][::-1]  # contender 1 on top
    medians = [r["median"] for r in rows]
    errors = [[r["median"] - r["min"] for r in rows], [r["max"] - r["median"] for r in rows]]
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.7 * len(rows)))
    ax.barh([f"#{r['number']} {r['label']}" for r in rows], medians, xerr=errors, capsize=4, color="#4c72b0")
    for y, r in enumerate(rows):
        ax.text(r["max"], y, f"  {r['median']:.0f}/s, {r['ratio_to_reference']:.2f}x", va="center")
    m, s = report["machine"], report["settings"]
    ax.set_xlabel("images/s: median of rounds, whiskers min-max\nlabels: median and ratio to #3")
    ax.set_title(f"batch {s['batch_size']}, {s['image_size']} px, {s['workers']} cores: {m['cpu']}", fontsize=9)
    ax.set_xlim(0, max(r["max"] for r in rows) * 1.35)
    fig.tight_layout()
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

"""Turns the generalization runs into JSON (every figure), Markdown (tables, verdicts) and a PNG."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

METRICS = ("test_acc", "test_nll", "test_ece", "test_confidence", "train_acc", "gap", "memorized")
# A difference of means counts as real only beyond this many standard errors of the difference.
SE_THRESHOLD = 2.0


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and sample standard deviation over seeds of every metric (None where a run has no
    value, e.g. memorization without corrupted labels), plus the mean accuracy curve."""
    out: dict[str, Any] = {"seeds": [r["seed"] for r in runs], "curve_epochs": runs[0]["curve_epochs"]}
    for m in METRICS:
        values = [r[m] for r in runs]
        out[m] = None if None in values else {"mean": statistics.fmean(values), "std": _std(values)}
    curves = list(zip(*(r["test_acc_curve"] for r in runs)))
    out["test_acc_curve_mean"] = [statistics.fmean(c) for c in curves]
    out["test_acc_curve_std"] = [_std(c) for c in curves]
    return out


def _std(values: list[float] | tuple[float, ...]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def compare(arm: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    """Test-accuracy difference to the baseline, its standard error, and what it amounts to."""
    a, b = arm["summary"]["test_acc"], baseline["summary"]["test_acc"]
    n_a, n_b = len(arm["summary"]["seeds"]), len(baseline["summary"]["seeds"])
    diff = a["mean"] - b["mean"]
    se = math.sqrt(a["std"] ** 2 / n_a + b["std"] ** 2 / n_b)
    if n_a < 2 or n_b < 2:
        verdict = "too few seeds to tell"
    elif diff > SE_THRESHOLD * se:
        verdict = "better"
    elif diff < -SE_THRESHOLD * se:
        verdict = "worse"
    else:
        verdict = "no clear difference"
    return {"diff": diff, "se": se, "verdict": verdict}


def add_comparisons(studies: list[dict[str, Any]]) -> None:
    """Attach to every non-ERM arm its comparison with the study's ERM arm, where there is one."""
    for study in studies:
        erm = next((a for a in study["arms"] if a["name"] == "ERM"), None)
        for arm in study["arms"]:
            arm["vs_erm"] = compare(arm, erm) if erm is not None and arm is not erm else None


def _pct(stat: dict[str, float] | None) -> str:
    return "—" if stat is None else f"{100 * stat['mean']:.1f} ± {100 * stat['std']:.1f}"


def _num(stat: dict[str, float]) -> str:
    return f"{stat['mean']:.3f} ± {stat['std']:.3f}"


def _delta(cmp: dict[str, Any] | None) -> str:
    if cmp is None:
        return "—"
    return f"{100 * cmp['diff']:+.1f} ± {100 * cmp['se']:.1f} ({cmp['verdict']})"


TABLE_HEADER = (
    "| arm | test acc. % | test NLL | ECE | mean confidence % | train acc. % | gap (points) | memorized % "
    "| Δ test acc. vs ERM (points) |\n"
    "|---|---|---|---|---|---|---|---|---|\n"
)


def table_row(arm: dict[str, Any]) -> str:
    """One Markdown row; the test suite parses these back and compares them with the JSON."""
    s = arm["summary"]
    cells = [arm["name"], _pct(s["test_acc"]), _num(s["test_nll"]), _num(s["test_ece"]),
             _pct(s["test_confidence"]), _pct(s["train_acc"]), _pct(s["gap"]), _pct(s["memorized"]),
             _delta(arm["vs_erm"])]  # fmt: skip
    return "| " + " | ".join(cells) + " |\n"


def study_markdown(study: dict[str, Any]) -> str:
    """A study's heading, what it trains on, and its table."""
    sched = study["schedule"]
    lines = [
        f"#### {study['title']}\n\n",
        f"{study['description']} {sched['epochs']} epochs, batch {sched['batch_size']}, "
        f"seeds {', '.join(map(str, study['arms'][0]['summary']['seeds']))}.\n\n",
        TABLE_HEADER,
        *(table_row(arm) for arm in study["arms"]),
        "\n",
    ]
    return "".join(lines)


VERDICTS = ("better", "no clear difference", "worse", "too few seeds to tell")


def findings(studies: list[dict[str, Any]]) -> str:
    """One line per study: which arms beat ERM on test accuracy, which do not, which lose."""
    lines = []
    for study in studies:
        compared = [a for a in study["arms"] if a["vs_erm"] is not None]
        if not compared:
            continue
        groups = []
        for verdict in VERDICTS:
            names = [
                f"{a['name']} ({100 * a['vs_erm']['diff']:+.1f})"
                for a in compared
                if a["vs_erm"]["verdict"] == verdict
            ]
            if names:
                groups.append(f"{verdict}: {', '.join(names)}")
        lines.append(f"- {study['section']}, {study['title']}: {'; '.join(groups)}.\n")
    return "".join(lines)


def markdown(report: dict[str, Any]) -> str:
    """The whole results section, sections in the order the studies were planned."""
    meta = report["meta"]
    clean_share = round(100 * (1 - meta["plan"]["noise"]))
    parts = [
        "## Generalization: Mixup and CutMix on handwritten digits\n\n",
        f"Reproduce with `{meta['command']}`: {meta['wall_minutes']:.1f} min wall, "
        f"{meta['cpu_minutes']:.1f} min of CPU time, on {meta['machine']}.\n\n",
        f"Setup: {meta['setup']}\n\n",
        "Reading the tables: mean ± standard deviation over seeds. ECE: expected calibration error, 15 bins. "
        "Gap: training accuracy (on the labels trained on, no augmentation) minus test accuracy. "
        "With corrupted labels, training accuracy counts agreement with the corrupted labels: a model "
        f"that learns the true classes and ignores the noise scores about {clean_share}% there, hence a "
        "negative gap; "
        "memorized: the share of the relabelled training images predicted with their wrong label. "
        "Δ: difference of mean test accuracy to ERM ± its standard error; called better or worse "
        f"beyond {SE_THRESHOLD:g} standard errors.\n\n",
        "Test accuracy against ERM (difference of means in points):\n\n",
        findings(report["studies"]),
        f"\n![test accuracy over epochs]({meta['plot']})\n\n",
    ]
    section = None
    for study in report["studies"]:
        if study["section"] != section:
            section = study["section"]
            parts.append(f"### {section}\n\n")
        parts.append(study_markdown(study))
    return "".join(parts)


def _zoom(study: dict[str, Any]) -> float:
    """Lower accuracy limit of a panel: what the arms reach after the first third of training."""
    lows = []
    for arm in study["arms"]:
        s = arm["summary"]
        third = s["curve_epochs"][-1] / 3
        lows += [
            100 * (m - d)
            for e, m, d in zip(s["curve_epochs"], s["test_acc_curve_mean"], s["test_acc_curve_std"])
            if e >= third
        ]
    return max(0.0, math.floor(min(lows)) - 1)


def plot(studies: list[dict[str, Any]], path: Path) -> None:
    """Test accuracy over epochs, one panel per study, one line (mean ± std band) per arm; the
    y axis starts where the arms are after a third of training (the first epochs are off scale)."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    cols = min(2, len(studies))
    rows = math.ceil(len(studies) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 3.8 * rows), squeeze=False)
    for ax in axes.flat[len(studies) :]:
        ax.remove()
    for ax, study in zip(axes.flat, studies):
        for arm in study["arms"]:
            s = arm["summary"]
            mean = [100 * v for v in s["test_acc_curve_mean"]]
            std = [100 * v for v in s["test_acc_curve_std"]]
            ax.plot(s["curve_epochs"], mean, label=arm["name"])
            low, high = [m - d for m, d in zip(mean, std)], [m + d for m, d in zip(mean, std)]
            ax.fill_between(s["curve_epochs"], low, high, alpha=0.2)
        ax.set_title(f"{study['title']} ({len(study['arms'][0]['summary']['seeds'])} seeds)", fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylabel("test accuracy %")
        ax.set_ylim(_zoom(study), 100.5)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write(report: dict[str, Any], out: Path) -> dict[str, Path]:
    """Write the JSON, Markdown and PNG files under ``out``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out / "generalization.json",
        "markdown": out / "GENERALIZATION.md",
        "plot": out / "generalization.png",
    }
    add_comparisons(report["studies"])
    plot([s for s in report["studies"] if s["plotted"]], paths["plot"])
    paths["json"].write_text(json.dumps(report, indent=1) + "\n")
    paths["markdown"].write_text(markdown(report))
    return paths

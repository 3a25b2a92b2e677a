"""Soak test: the training pipeline with Mixup/CutMix for many epochs, and the process's memory.

Runs ``pipelines.train_pipeline`` with mixing through ``DALILoader`` epoch after epoch on the
built-in ImageNet-like data set (or ``--data DIR``) and records, per epoch, the process's
peak resident memory (RSS, read after every batch), its RSS at the end, and the samples
the epoch yielded. DALI's buffers grow to their working size over the first epochs, and
one epoch's peak differs from the next by a batch or two of buffers; so the run compares
medians over ``--window`` epochs: it passes when the median peak of the last window is less
than 5% above the median peak of the first window after ``--warmup-epochs``, and every
epoch yielded every sample once. A leak of a few MB per epoch fails it; noise does not.

Results: a Markdown table on the terminal and ``soak.json`` under ``--out``. Exit status 0
on a pass, 1 otherwise.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.synthetic import SyntheticSpec, default_cache_dir, ensure_dataset
from dali_mixup import DALILoader, MixConfig
from pipelines import open_source, train_pipeline

GROWTH_LIMIT = 0.05
FULL = dict(epochs=40, warmup_epochs=10, window=5, batch_size=64, image_size=224)
QUICK = dict(epochs=4, warmup_epochs=1, window=1, batch_size=8, image_size=64)
FULL_DATA = SyntheticSpec(num_classes=10, images_per_class=128)
QUICK_DATA = SyntheticSpec(num_classes=2, images_per_class=10)


def rss_bytes() -> int:
    """The process's resident memory now (Linux), or its peak where /proc is missing."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def growth(rss: Sequence[int], *, warmup_epochs: int, window: int) -> float:
    """How far the median of the last ``window`` epochs' ``rss`` rises above the median of
    the ``window`` epochs after the warm-up (a fraction)."""
    reference = statistics.median(rss[warmup_epochs:warmup_epochs + window])
    return statistics.median(rss[-window:]) / reference - 1


def soak(data: Path, *, epochs: int, warmup_epochs: int, window: int, batch_size: int,
         image_size: int, threads: int | None, seed: int) -> dict:
    """Run the epochs; the report as ``soak.json`` holds it."""
    source = open_source(data)
    mix = MixConfig(mixup_alpha=0.8, cutmix_alpha=1.0, num_classes=source.num_classes)
    spec = train_pipeline(source, batch_size=batch_size, image_size=image_size, mix=mix,
                          num_threads=threads, seed=seed)
    loader = DALILoader(spec)
    rows = []
    for epoch in range(epochs):
        started = time.perf_counter()
        samples, peak = 0, 0
        for _, targets in loader:
            samples += len(targets)
            peak = max(peak, rss_bytes())
        gc.collect()  # what is left is held by the pipeline, not by the last batch
        rows.append({"epoch": epoch, "peak_rss_bytes": peak, "end_rss_bytes": rss_bytes(),
                     "samples": samples, "seconds": round(time.perf_counter() - started, 3)})
    rise = growth([r["peak_rss_bytes"] for r in rows], warmup_epochs=warmup_epochs, window=window)
    complete = all(r["samples"] == source.num_samples for r in rows)
    return {
        "data": str(data), "num_samples": source.num_samples, "epochs": epochs,
        "warmup_epochs": warmup_epochs, "window": window, "batch_size": batch_size, "image_size": image_size,
        "threads": spec.runtime.num_threads, "seed": seed, "rows": rows,
        "growth": rise, "limit": GROWTH_LIMIT, "every_sample_every_epoch": complete,
        "passed": rise < GROWTH_LIMIT and complete,
    }


def render(report: dict) -> str:
    """The report as a Markdown table and a verdict line."""
    first, window = report["warmup_epochs"], report["window"]
    reference = statistics.median(r["peak_rss_bytes"] for r in report["rows"][first:first + window])
    lines = ["| epoch | peak RSS (MiB) | vs. reference | RSS at the end (MiB) | samples | seconds |",
             "|---:|---:|---:|---:|---:|---:|"]
    for row in report["rows"]:
        change = "warm-up" if row["epoch"] < first else f"{row['peak_rss_bytes'] / reference - 1:+.2%}"
        lines.append(f"| {row['epoch']} | {row['peak_rss_bytes'] / 2**20:.1f} | {change} | "
                     f"{row['end_rss_bytes'] / 2**20:.1f} | {row['samples']} | {row['seconds']:.1f} |")
    complete = "yes" if report["every_sample_every_epoch"] else "NO"
    lines += ["", f"Reference: the median peak RSS of epochs {first} to {first + window - 1} "
              f"({reference / 2**20:.1f} MiB).",
              f"Peak RSS growth, median of the last {window} epoch(s) against the reference: "
              f"{report['growth']:+.2%} "
              f"(limit {report['limit']:.0%}); every epoch yielded all {report['num_samples']} samples: "
              f"{complete}: {'pass' if report['passed'] else 'FAIL'}"]
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run the training pipeline with mixing for many epochs "
                                                 "and check that the process's memory stays flat.")
    parser.add_argument("--data", type=Path, metavar="DIR", help="image folder, one sub-folder per class "
                        "(default: the built-in ImageNet-like synthetic set, generated once and cached)")
    parser.add_argument("--cache", type=Path, metavar="DIR", default=default_cache_dir(),
                        help="where the built-in set is cached (default: %(default)s)")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        default=Path(__file__).resolve().parent / "out" / "soak",
                        help="folder for soak.json (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="a short run on a small built-in set that "
                        "checks the script works (too short for a meaningful figure)")
    for name, help_text in (("epochs", "epochs to run"), ("warmup_epochs", "epochs before the reference"),
                            ("window", "epochs per median"), ("batch_size", "images per batch"),
                            ("image_size", "side of the output images")):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, metavar="N",
                            help=f"{help_text} (default: {FULL[name]}, {QUICK[name]} with --quick)")
    parser.add_argument("--threads", type=int, metavar="N", help="DALI threads (default: the usable cores)")
    parser.add_argument("--seed", type=int, default=0, help="seed of data order and augmentation")
    args = parser.parse_args(argv)
    preset = QUICK if args.quick else FULL
    for name, default in preset.items():
        if getattr(args, name) is None:
            setattr(args, name, default)
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')}: expected an integer >= 1, got {getattr(args, name)}")
    if args.warmup_epochs + args.window > args.epochs:
        parser.error(f"--epochs: expected at least --warmup-epochs + --window = "
                     f"{args.warmup_epochs + args.window}, got {args.epochs}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    data = args.data or ensure_dataset(QUICK_DATA if args.quick else FULL_DATA, cache_dir=args.cache)
    started = dt.datetime.now().astimezone()
    report = soak(data, epochs=args.epochs, warmup_epochs=args.warmup_epochs, window=args.window,
                  batch_size=args.batch_size, image_size=args.image_size, threads=args.threads,
                  seed=args.seed)
    report["started"] = started.isoformat(timespec="seconds")
    report["argv"] = [Path(sys.argv[0]).name, *(sys.argv[1:] if argv is None else argv)]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "soak.json").write_text(json.dumps(report, indent=2) + "\n")
    print(render(report))
    print(f"written: {args.out / 'soak.json'}")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())

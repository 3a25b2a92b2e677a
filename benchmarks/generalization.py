"""What Mixup and CutMix do to generalization, measured end to end through our pipelines.

Trains a small CNN from scratch on scikit-learn's bundled handwritten digits (written once
as an image folder), through ``train_pipeline``/``val_pipeline`` and ``DALILoader``, for
each arm (ERM, Mixup, CutMix, their switch) and seed, on clean labels and on labels of
which a fixed 40% were replaced by wrong classes, then writes a Markdown report, a JSON
file with every figure and a PNG of test accuracy over epochs.

    python benchmarks/generalization.py           # full run: benchmarks/GENERALIZATION.md, .json, .png
    python benchmarks/generalization.py --quick   # a one-minute smoke run (CI)
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import nvidia.dali as dali
import torch
import torch.nn.functional as F
from torch import nn

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks import digits, generalization_report
from benchmarks.metrics import accuracy, ece, nll
from dali_mixup import DALILoader, MixConfig
from pipelines import train_pipeline, val_pipeline


REPO = Path(__file__).resolve().parent.parent
CURVE_POINTS = 40  # test-accuracy points per run, at most


@dataclass(frozen=True, kw_only=True)
class Schedule:
    """What every arm shares: model width, epochs, batch size and optimiser settings."""

    epochs: int = 30
    batch_size: int = 64
    image_size: int = 12  # the digits are 8x8: a little upsampling leaves room for crops
    width: int = 24  # channels of the first block; sized for the 20-minute budget on 2 cores
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    threads: int = 1


@dataclass(frozen=True, kw_only=True)
class Arm:
    """A way of mixing (or not): its name and the MixConfig it hands to the pipeline."""

    name: str
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0

    def mix_config(self) -> MixConfig | None:
        """No label smoothing in any arm, so that mixing is the only difference from ERM."""
        if self.mixup_alpha == 0 and self.cutmix_alpha == 0:
            return None
        return MixConfig(
            mixup_alpha=self.mixup_alpha,
            cutmix_alpha=self.cutmix_alpha,
            switch_prob=0.5,
            label_smoothing=0.0,
            num_classes=digits.NUM_CLASSES,
        )


def arms(*, mixup_alpha: float, cutmix_alpha: float) -> tuple[Arm, ...]:
    """The four arms compared in the main table."""
    return (
        Arm(name="ERM"),
        Arm(name="Mixup", mixup_alpha=mixup_alpha),
        Arm(name="CutMix", cutmix_alpha=cutmix_alpha),
        Arm(name="Mixup/CutMix", mixup_alpha=mixup_alpha, cutmix_alpha=cutmix_alpha),  # timm's switch, 50/50
    )


@dataclass(frozen=True)
class Setting:
    """A training source (image folder or file list) and what it stands for."""

    name: str
    description: str
    train_src: Path
    memorization_src: Path | None = None  # the relabelled samples with their wrong labels, if any


@dataclass
class RunResult:
    """Everything measured in one training run."""

    setting: str
    arm: str
    mixup_alpha: float
    cutmix_alpha: float
    seed: int
    train_loss: list[float] = field(default_factory=list)  # mean per epoch, against the targets trained on
    curve_epochs: list[int] = field(default_factory=list)  # epochs after which the test set was scored
    test_acc_curve: list[float] = field(default_factory=list)
    test_acc: float = 0.0
    test_nll: float = 0.0
    test_ece: float = 0.0
    test_confidence: float = 0.0  # mean top-class probability: above accuracy means overconfident
    train_acc: float = 0.0  # on the labels trained on, without augmentation
    memorized: float | None = None  # share of the corrupted labels the model reproduces
    seconds: float = 0.0

    @property
    def gap(self) -> float:
        """Train-test accuracy gap: how much of the training fit does not carry over."""
        return self.train_acc - self.test_acc


def make_model(*, width: int, num_classes: int) -> nn.Module:
    """A small VGG-style CNN: two stages of two 3x3 convs and a max-pool, one more conv, global pooling."""

    def block(c_in: int, c_out: int) -> list[nn.Module]:
        return [
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        ]

    return nn.Sequential(
        *block(3, width), *block(width, width), nn.MaxPool2d(2),
        *block(width, 2 * width), *block(2 * width, 2 * width), nn.MaxPool2d(2),
        *block(2 * width, 4 * width), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(4 * width, num_classes),
    )  # fmt: skip


Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]


def train_epoch(
    model: nn.Module,
    loader: Batches,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
) -> float:
    """One pass over the loader; returns the mean loss per sample.

    ``cross_entropy`` takes class indices (ERM) and probability rows (mixing) alike.
    """
    model.train()
    total, count = 0.0, 0
    for images, targets in loader:
        loss = F.cross_entropy(model(images), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        total += loss.item() * len(images)
        count += len(images)
    return total / count


@torch.no_grad()
def predict(model: nn.Module, loader: Batches) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probabilities and labels for every sample of an evaluation loader."""
    model.eval()
    outputs, labels = [], []
    for images, targets in loader:
        outputs.append(F.log_softmax(model(images), dim=1))
        labels.append(targets)
    return torch.cat(outputs), torch.cat(labels)


def _loaders(
    setting: Setting, *, mix: MixConfig | None, seed: int, split: digits.DigitsSplit, schedule: Schedule
) -> dict[str, DALILoader]:
    """One run's training loader and its evaluation loaders (test, train, memorization).

    The digits fill their 8x8 frame and mirrored digits are other glyphs, so the crops keep
    at least half the image, nothing is flipped, and evaluation keeps the whole frame.
    """
    common = {
        "batch_size": schedule.batch_size, "image_size": schedule.image_size, "num_threads": schedule.threads,
        "mean": (split.mean,) * 3, "std": (split.std,) * 3,
    }  # fmt: skip
    train = train_pipeline(setting.train_src, mix=mix, seed=seed, scale=(0.5, 1.0), hflip=0.0, **common)
    sources = {"test": split.test_dir, "train": setting.train_src, "memorization": setting.memorization_src}
    evals = {k: DALILoader(val_pipeline(src, crop_pct=1.0, **common)) for k, src in sources.items() if src}
    return {"fit": DALILoader(train), **evals}


def train_run(
    *, setting: Setting, arm: Arm, seed: int, split: digits.DigitsSplit, schedule: Schedule
) -> RunResult:
    """Train one model from scratch, scoring the test set at up to ``CURVE_POINTS`` epochs."""
    torch.manual_seed(seed)  # model initialisation
    loaders = _loaders(setting, mix=arm.mix_config(), seed=seed, split=split, schedule=schedule)
    model = make_model(width=schedule.width, num_classes=digits.NUM_CLASSES)
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=schedule.lr,
        momentum=schedule.momentum,
        weight_decay=schedule.weight_decay,
        nesterov=True,
    )
    steps = schedule.epochs * len(loaders["fit"])
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    result = RunResult(setting.name, arm.name, arm.mixup_alpha, arm.cutmix_alpha, seed)
    every = math.ceil(schedule.epochs / CURVE_POINTS)  # long runs: scoring every epoch would dominate
    start = time.perf_counter()
    for epoch in range(1, schedule.epochs + 1):
        result.train_loss.append(train_epoch(model, loaders["fit"], optimizer, scheduler))
        if epoch % every == 0 or epoch == schedule.epochs:  # the last epoch is always scored
            log_probs, labels = predict(model, loaders["test"])
            result.curve_epochs.append(epoch)
            result.test_acc_curve.append(accuracy(log_probs, labels))
    result.test_acc = result.test_acc_curve[-1]
    result.test_nll = nll(log_probs, labels)
    result.test_ece = ece(log_probs, labels, bins=15)
    result.test_confidence = log_probs.exp().max(dim=1).values.mean().item()
    result.train_acc = accuracy(*predict(model, loaders["train"]))
    if "memorization" in loaders:
        result.memorized = accuracy(*predict(model, loaders["memorization"]))
    result.seconds = time.perf_counter() - start
    return result


@dataclass(frozen=True)
class Study:
    """One setting, its arms and seeds, all trained on one schedule: one table of the report."""

    section: str
    title: str
    setting: Setting
    arms: tuple[Arm, ...]
    seeds: tuple[int, ...]
    schedule: Schedule
    plotted: bool = True  # gets a panel of test accuracy over epochs


@dataclass(frozen=True, kw_only=True)
class Plan:
    """How much to run: seeds, the alpha sweep, label noise, the small subset, longer training."""

    schedule: Schedule = Schedule()
    seeds: int = 5
    sweep_seeds: int = 2
    mixup_alpha: float = 1.0
    cutmix_alpha: float = 1.0
    alphas: tuple[float, ...] = (0.1, 0.2, 0.4, 1.0)
    noise: float = 0.4
    subset_per_class: int = 10
    subset_epochs: int = 100
    long_factor: int = 4


QUICK = Plan(
    schedule=Schedule(epochs=3), seeds=2, sweep_seeds=1, alphas=(0.2,), subset_epochs=12, long_factor=2
)


def plan_studies(plan: Plan, split: digits.DigitsSplit) -> list[Study]:
    """The main comparison, then what changes it: a small training set, alpha, longer training."""
    clean = Setting("clean", f"All {len(split.train)} training images, clean labels.", split.train_dir)
    noisy = Setting(
        f"noisy{round(100 * plan.noise)}",
        f"All {len(split.train)} training images; {round(100 * plan.noise)}% of their labels replaced by "
        "a wrong class (fixed, seeded file list); clean test labels.",
        *digits.corrupted_train_lists(split, fraction=plan.noise, seed=0),
    )
    small = Setting(
        f"small{plan.subset_per_class}",
        f"{plan.subset_per_class} training images per class "
        f"({digits.NUM_CLASSES * plan.subset_per_class} in all), clean labels.",
        digits.subset_train_list(split, per_class=plan.subset_per_class, seed=0),
    )
    main_arms = arms(mixup_alpha=plan.mixup_alpha, cutmix_alpha=plan.cutmix_alpha)
    sweep_arms = (Arm(name="ERM"), *(Arm(name=f"Mixup α={a:g}", mixup_alpha=a) for a in plan.alphas))
    seeds, few = tuple(range(plan.seeds)), tuple(range(plan.sweep_seeds))
    full, subset = plan.schedule, replace(plan.schedule, epochs=plan.subset_epochs)
    long = replace(plan.schedule, epochs=plan.long_factor * plan.schedule.epochs)
    noisy_title = f"{round(100 * plan.noise)}% corrupted labels"
    small_title = f"{plan.subset_per_class} images per class"
    long_title = f"{noisy_title}, {plan.long_factor}x the epochs"
    main, sweep = "Four arms, same model and schedule", "Mixup's alpha"
    return [
        Study(main, "Clean labels", clean, main_arms, seeds, full),
        Study(main, noisy_title, noisy, main_arms, seeds, full),
        Study("A smaller training set", small_title, small, main_arms, seeds, subset),
        Study(sweep, noisy_title, noisy, sweep_arms, few, full, plotted=False),
        Study(sweep, small_title, small, sweep_arms, few, subset, plotted=False),
        Study("Longer training", long_title, noisy, main_arms[:2], few, long),  # ERM, Mixup: the paper's pair
    ]


def run_studies(studies: list[Study], *, split: digits.DigitsSplit) -> dict[tuple, RunResult]:
    """Train every distinct (setting, mixing, seed, schedule) once, however many studies share it."""
    todo: dict[tuple, tuple[Study, Arm, int]] = {}
    for study in studies:
        for arm in study.arms:
            for seed in study.seeds:
                todo.setdefault(_run_key(study, arm, seed), (study, arm, seed))
    done: dict[tuple, RunResult] = {}
    for i, (key, (study, arm, seed)) in enumerate(todo.items(), 1):
        r = train_run(setting=study.setting, arm=arm, seed=seed, split=split, schedule=study.schedule)
        done[key] = r
        print(
            f"[{i}/{len(todo)}] {study.setting.name} {arm.name} seed {seed}, {study.schedule.epochs} epochs: "
            f"test acc {100 * r.test_acc:.1f}%, loss {r.train_loss[0]:.3f} -> {r.train_loss[-1]:.3f} "
            f"({r.seconds:.1f} s)",
            flush=True,
        )
    return done


def _run_key(study: Study, arm: Arm, seed: int) -> tuple:
    return (study.setting.name, arm.mixup_alpha, arm.cutmix_alpha, seed, study.schedule)


def build_report(studies: list[Study], results: dict[tuple, RunResult], *, meta: dict) -> dict:
    """Plain data for the report writer: every study, arm and run, with summaries over seeds."""
    out = []
    for study in studies:
        arms_out = []
        for arm in study.arms:
            runs = [
                {**asdict(r), "gap": r.gap} for r in (results[_run_key(study, arm, s)] for s in study.seeds)
            ]
            arms_out.append({**asdict(arm), "summary": generalization_report.summarize(runs), "runs": runs})
        out.append({
            "section": study.section,
            "title": study.title,
            "setting": study.setting.name,
            "description": study.setting.description,
            "schedule": asdict(study.schedule),
            "plotted": study.plotted,
            "arms": arms_out,
        })  # fmt: skip
    return {"meta": meta, "studies": out}


def describe(plan: Plan, *, train_images: int, test_images: int) -> str:
    """The setup in words, for the report: data, arms, model and optimiser."""
    sched = plan.schedule
    params = sum(
        p.numel() for p in make_model(width=sched.width, num_classes=digits.NUM_CLASSES).parameters()
    )
    return (
        f"scikit-learn's 8x8 handwritten digits, {train_images} training and {test_images} test images "
        "(stratified, fixed split), read as PNG files by `train_pipeline`/`val_pipeline` and `DALILoader`, "
        f"upsampled to {sched.image_size}x{sched.image_size}; training crops keep 50-100% of the area, "
        "no flips. "
        f"Arms: ERM (no mixing); Mixup (alpha {plan.mixup_alpha:g}); CutMix (alpha {plan.cutmix_alpha:g}); "
        "Mixup/CutMix (timm's switch: CutMix with probability 0.5, else Mixup); one lambda per batch, "
        f"no label smoothing in any arm. Model: a {params:,}-parameter CNN (5 conv layers with batch norm), "
        f"trained from scratch; SGD with Nesterov momentum {sched.momentum:g}, learning rate {sched.lr:g} "
        f"on a cosine schedule, weight decay {sched.weight_decay:g}."
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="a tiny plan for CI: few epochs, seeds and alphas"
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="where the report files go (default: benchmarks/, or "
        "benchmarks/out/generalization-quick with --quick)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=REPO / "data" / "digits",
        help="where the digits are exported once (default: data/digits)",
    )
    parser.add_argument(
        "--seeds", type=int, help=f"seeds per arm in the main tables (default: {Plan().seeds})"
    )
    parser.add_argument(
        "--epochs", type=int, help=f"epochs on the full training set (default: {Schedule().epochs})"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads, and DALI threads, each (default: 1)"
    )
    return parser.parse_args(argv)


def make_plan(args: argparse.Namespace) -> Plan:
    """The default or quick plan, with the command line's overrides."""
    plan = QUICK if args.quick else Plan()
    schedule = replace(plan.schedule, threads=args.threads, epochs=args.epochs or plan.schedule.epochs)
    return replace(plan, schedule=schedule, seeds=args.seeds or plan.seeds)


def main(argv: list[str] | None = None) -> dict[str, Path]:
    args = parse_args(argv)
    out = args.out or (
        REPO / "benchmarks" / "out" / "generalization-quick" if args.quick else REPO / "benchmarks"
    )
    plan = make_plan(args)
    torch.set_num_threads(args.threads)  # DALI gets as many: the two overlap rather than fight
    start, cpu_start, load = time.perf_counter(), time.process_time(), os.getloadavg()[0]
    split = digits.export_digits(args.data)
    studies = plan_studies(plan, split)
    results = run_studies(studies, split=split)
    meta = {
        "command": " ".join(
            ["python benchmarks/generalization.py", *(argv if argv is not None else sys.argv[1:])]
        ),
        "quick": args.quick,
        "plan": asdict(plan),
        "wall_minutes": (time.perf_counter() - start) / 60,
        # CPU time of this process, all threads: a figure other processes on the machine barely change.
        "cpu_minutes": (time.process_time() - cpu_start) / 60,
        "machine": f"{os.cpu_count()} CPU cores (load average {load:.1f} at start, "
        f"{os.getloadavg()[0]:.1f} at the end), torch {torch.__version__}, DALI {dali.__version__}",
        "setup": describe(plan, train_images=len(split.train), test_images=len(split.test)),
        "train_images": len(split.train),
        "test_images": len(split.test),
        "plot": "generalization.png",
    }
    paths = generalization_report.write(build_report(studies, results, meta=meta), out)
    print("\n".join(f"wrote {p}" for p in paths.values()))
    return paths


if __name__ == "__main__":
    main()

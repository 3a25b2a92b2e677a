"""Training-input throughput: our DALI pipeline with mixing against the DataLoader recipe users run today.

Every contender reads the same image folder and hands the training loop the same
thing: a batch of normalized float32 NCHW images and its targets, using the same
number of CPU threads or worker processes. Contenders:

1. ``dali-mix``: ``pipelines.train_pipeline`` with Mixup/CutMix (timm's 0.5 switch), via ``DALILoader``.
2. ``dali-nomix``: the same pipeline without mixing; 1 against 2 is the cost of our stage.
3. ``dataloader-mix``: ``torch.utils.data.DataLoader`` over torchvision's ``ImageFolder`` with
   its training transforms and v2 ``MixUp``/``CutMix`` in the ``collate_fn`` (an equivalent
   Pillow + torch recipe when torchvision is missing). Every ratio is taken against this one.
4. ``dataloader-gpumix`` (only with a GPU): the same DataLoader without mixing, the batch
   copied to the GPU and mixed there, as NVIDIA's training examples do.

Method: a warm-up per contender, then ``--repeats`` rounds; in each round every contender
(in an order rotated from round to round) first drains what it prefetched while idle, then
is timed over ``--batches`` batches. Full runs wait for other processes to leave the CPU
before each timed round and run a round they disturbed again. Results go to a Markdown table on the terminal and, under ``--out``,
to ``results.json`` (every figure and the machine), ``results.md`` and ``throughput.png``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, RandomSampler, default_collate

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.synthetic import SyntheticSpec, default_cache_dir, ensure_dataset
from pipelines import IMAGENET_MEAN, IMAGENET_STD, image_folder

if TYPE_CHECKING:
    from tqdm import tqdm

Batch = tuple[torch.Tensor, torch.Tensor]
Mixer = Callable[[torch.Tensor, torch.Tensor], Batch]  # (images, class ids) -> (images, soft targets)

# The mixing recipe every contender runs: torchvision's reference recipe, timm's switch.
MIXUP_ALPHA = 0.8
CUTMIX_ALPHA = 1.0
REFERENCE = "dataloader-mix"
QUIET_SHARE = 0.1  # a round where other processes took more of the CPU is flagged (and, by default, redone)
TARGETS = (  # (numerator, denominator, minimum ratio)
    ("dali-mix", "dataloader-mix", 2.0),
    ("dali-mix", "dali-nomix", 0.97),
)


@dataclass(frozen=True, kw_only=True)
class Settings:
    """How much to measure; ``--quick`` swaps in a smaller preset."""

    batch_size: int
    image_size: int
    workers: int
    warmup: int
    batches: int
    repeats: int
    seed: int
    max_other_share: float  # 1.0: time rounds whatever else runs
    patience: float  # seconds, in all, to wait for other processes to leave the CPU


FULL = dict(batch_size=128, warmup=8, batches=16, repeats=5, max_other_share=QUIET_SHARE, patience=600.0)
QUICK = dict(batch_size=32, warmup=2, batches=4, repeats=2, max_other_share=1.0, patience=0.0)
REDOS = 2  # times a round disturbed by other processes is run again
FULL_DATA = SyntheticSpec(num_classes=10, images_per_class=128)
QUICK_DATA = SyntheticSpec(num_classes=4, images_per_class=24)


@dataclass(frozen=True, kw_only=True)
class DataInfo:
    """The image folder every contender reads."""

    root: Path
    samples: list[tuple[Path, int]]
    num_classes: int
    synthetic: bool


@dataclass(frozen=True)
class Contender:
    key: str
    number: int
    label: str
    open: Callable[[], Iterator[Batch]]  # an endless stream of batches


# ---------------------------------------------------------------- data


def scan_image_folder(root: Path) -> tuple[list[tuple[Path, int]], int]:
    """(path, label) pairs and the class count of an ``ImageFolder``-style tree, read as our
    pipelines read it, so that every contender gets the very same files.

    Raises ``ValueError`` saying what was expected when the folder is missing or holds no images.
    """
    try:
        source = image_folder(root)
    except OSError as error:  # missing, or not a directory
        raise ValueError(f"--data: expected an existing directory: {error}") from None
    except ValueError as error:
        raise ValueError(f"--data: {error}") from None
    return [(Path(f), label) for f, label in zip(source.files, source.labels)], len(source.classes)


def resolve_data(data: Path | None, *, cache: Path, quick: bool) -> DataInfo:
    """The user's folder, or the built-in synthetic set (generated on first use)."""
    root = data if data is not None else ensure_dataset(QUICK_DATA if quick else FULL_DATA, cache_dir=cache)
    samples, num_classes = scan_image_folder(root)
    return DataInfo(root=root, samples=samples, num_classes=num_classes, synthetic=data is None)


# ---------------------------------------------------------------- contender 3 and 4: DataLoader


def torchvision_available() -> bool:
    try:
        import torchvision.transforms.v2  # noqa: F401
    except Exception:  # a torchvision built for another torch fails with various errors
        return False
    return True


def _torchvision_parts(data: DataInfo, settings: Settings) -> tuple[Dataset, Mixer]:
    """torchvision's ``ImageFolder`` with its reference training transforms, and its batch mixer."""
    from torchvision import datasets
    from torchvision.transforms import v2

    transform = v2.Compose([
        v2.RandomResizedCrop(settings.image_size, antialias=True),
        v2.RandomHorizontalFlip(),
        v2.PILToTensor(),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])
    mixer = v2.RandomChoice([
        v2.MixUp(alpha=MIXUP_ALPHA, num_classes=data.num_classes),
        v2.CutMix(alpha=CUTMIX_ALPHA, num_classes=data.num_classes),
    ])
    return datasets.ImageFolder(str(data.root), transform=transform), mixer


class PillowFolder(Dataset):
    """``ImageFolder`` + RandomResizedCrop, flip, to-tensor and normalize, with Pillow and torch only."""

    def __init__(self, samples: list[tuple[Path, int]], *, image_size: int) -> None:
        self.samples = samples
        self.image_size = image_size
        self.mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[index]
        with Image.open(path) as file:
            image = file.convert("RGB")
        left, top, width, height = random_resized_crop_box(image.width, image.height)
        image = image.crop((left, top, left + width, top + height))
        image = image.resize((self.image_size, self.image_size), Image.Resampling.BILINEAR)
        if torch.rand(()) < 0.5:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        pixels = torch.from_numpy(np.array(image)).permute(2, 0, 1).float().div_(255)
        return pixels.sub_(self.mean).div_(self.std), label


def random_resized_crop_box(width: int, height: int) -> tuple[int, int, int, int]:
    """(left, top, width, height) drawn as torchvision's RandomResizedCrop does (scale 0.08-1, ratio 3/4-4/3)."""
    area = width * height
    log_ratio = (math.log(3 / 4), math.log(4 / 3))
    for _ in range(10):
        target = area * float(torch.empty(()).uniform_(0.08, 1.0))
        ratio = math.exp(float(torch.empty(()).uniform_(*log_ratio)))
        w, h = round(math.sqrt(target * ratio)), round(math.sqrt(target / ratio))
        if 0 < w <= width and 0 < h <= height:
            top = int(torch.randint(0, height - h + 1, ()))
            left = int(torch.randint(0, width - w + 1, ()))
            return left, top, w, h
    # Fallback, as torchvision: the whole image's centre, aspect clamped to the ratio range.
    w, h = width, height
    if width / height < 3 / 4:
        h = round(width / (3 / 4))
    elif width / height > 4 / 3:
        w = round(height * (4 / 3))
    return (width - w) // 2, (height - h) // 2, w, h


class TorchMix:
    """torchvision v2 ``RandomChoice([MixUp, CutMix])`` in plain torch: one lam and box per batch,
    partner = the batch rolled by one, lam corrected to the box area; works on any device."""

    def __init__(self, *, num_classes: int) -> None:
        self.num_classes = num_classes
        self.mixup = torch.distributions.Beta(MIXUP_ALPHA, MIXUP_ALPHA)
        self.cutmix = torch.distributions.Beta(CUTMIX_ALPHA, CUTMIX_ALPHA)

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> Batch:
        targets = torch.nn.functional.one_hot(labels, self.num_classes).to(images.dtype)
        if torch.rand(()) < 0.5:
            lam = float(self.mixup.sample())
            images = images.roll(1, 0).mul_(1 - lam).add_(images.mul(lam))
        else:
            images, lam = self._paste_box(images, float(self.cutmix.sample()))
        return images, targets.roll(1, 0).mul_(1 - lam).add_(targets.mul(lam))

    @staticmethod
    def _paste_box(images: torch.Tensor, lam: float) -> tuple[torch.Tensor, float]:
        height, width = images.shape[-2:]
        cy, cx = int(torch.randint(height, ())), int(torch.randint(width, ()))
        half_h, half_w = int(0.5 * height * math.sqrt(1 - lam)), int(0.5 * width * math.sqrt(1 - lam))
        y1, y2 = max(cy - half_h, 0), min(cy + half_h, height)
        x1, x2 = max(cx - half_w, 0), min(cx + half_w, width)
        out = images.clone()
        out[..., y1:y2, x1:x2] = images.roll(1, 0)[..., y1:y2, x1:x2]
        return out, 1.0 - (y2 - y1) * (x2 - x1) / (height * width)


class MixCollate:
    """``collate_fn`` that stacks samples, then mixes the batch (picklable for worker processes)."""

    def __init__(self, mixer: Mixer) -> None:
        self.mixer = mixer

    def __call__(self, samples: list[tuple[torch.Tensor, int]]) -> Batch:
        return self.mixer(*default_collate(samples))


def dataloader_parts(data: DataInfo, settings: Settings, *, backend: str) -> tuple[Dataset, Mixer]:
    """The dataset and batch mixer of the DataLoader recipe, from torchvision or from Pillow + torch."""
    if backend == "torchvision":
        return _torchvision_parts(data, settings)
    return PillowFolder(data.samples, image_size=settings.image_size), TorchMix(num_classes=data.num_classes)


def dataloader_stream(
    data: DataInfo, settings: Settings, *, backend: str, mix_on_gpu: bool
) -> Iterator[Batch]:
    """Endless batches from a DataLoader with one worker per core, mixed in the workers or on the GPU."""
    dataset, mixer = dataloader_parts(data, settings, backend=backend)
    # One endless shuffled pass: no epoch-boundary stall, as on a data set far larger than a run.
    sampler = RandomSampler(dataset, num_samples=2**40)
    loader = DataLoader(
        dataset,
        batch_size=settings.batch_size,
        sampler=sampler,
        num_workers=settings.workers,
        collate_fn=default_collate if mix_on_gpu else MixCollate(mixer),
        pin_memory=mix_on_gpu,
        drop_last=True,
    )
    for images, labels in loader:
        if mix_on_gpu:
            images, labels = mixer(images.cuda(non_blocking=True), labels.cuda(non_blocking=True))
        yield images, labels


# ---------------------------------------------------------------- contenders 1 and 2: our pipeline


def dali_stream(data: DataInfo, settings: Settings, *, mixing: bool) -> Iterator[Batch]:
    """Endless batches from ``train_pipeline`` through ``DALILoader``, with or without mixing."""
    from dali_mixup import DALILoader, MixConfig
    from pipelines import train_pipeline

    mix = None
    if mixing:
        # No label smoothing: torchvision's recipe smooths in the loss, so outputs stay alike.
        mix = MixConfig(
            mixup_alpha=MIXUP_ALPHA, cutmix_alpha=CUTMIX_ALPHA, label_smoothing=0.0, num_classes=data.num_classes
        )
    pipe = train_pipeline(
        str(data.root),
        batch_size=settings.batch_size,
        image_size=settings.image_size,
        mix=mix,
        num_threads=settings.workers,
        seed=settings.seed,
    )
    loader = DALILoader(pipe)
    while True:
        yield from loader


def build_contenders(data: DataInfo, settings: Settings, *, backend: str, gpu: bool) -> list[Contender]:
    """The contenders this machine can run; DataLoaders first so their workers fork before DALI starts threads."""
    recipe = "torchvision" if backend == "torchvision" else "Pillow + torch"
    contenders = [
        Contender(REFERENCE, 3, f"DataLoader, {recipe}, mixing in collate_fn",
                  lambda: dataloader_stream(data, settings, backend=backend, mix_on_gpu=False)),
    ]
    if gpu:
        contenders.append(
            Contender("dataloader-gpumix", 4, f"DataLoader, {recipe}, mixing on the GPU after the copy",
                      lambda: dataloader_stream(data, settings, backend=backend, mix_on_gpu=True)))
    where = "GPU" if gpu else "CPU"  # train_pipeline picks the GPU wherever there is one
    contenders += [
        Contender("dali-mix", 1, f"DALI train_pipeline on the {where}, with mixing",
                  lambda: dali_stream(data, settings, mixing=True)),
        Contender("dali-nomix", 2, f"DALI train_pipeline on the {where}, without mixing",
                  lambda: dali_stream(data, settings, mixing=False)),
    ]
    return contenders


# ---------------------------------------------------------------- CPU time: ours and other processes


@dataclass(frozen=True)
class CpuReading:
    """Jiffies (1/CLK_TCK s) of CPU time so far: the whole machine's busy time, and ours."""

    machine: int
    ours: int  # this process (DALI's threads included) and its children (DataLoader workers)


def read_cpu() -> CpuReading | None:
    """Read /proc; None where there is none (off Linux)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    ours, me = 0, os.getpid()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended meanwhile
            continue
        rest = text[text.rindex(")") + 2:].split()  # the fields after "pid (name) "
        if int(stat.parent.name) == me or int(rest[1]) == me:
            ours += int(rest[11]) + int(rest[12])  # utime + stime
    return CpuReading(machine=user + nice + system + irq + softirq + steal, ours=ours)


def other_share(before: CpuReading | None, after: CpuReading | None, seconds: float) -> float | None:
    """The share of the machine's CPU that processes other than ours took between two readings."""
    if before is None or after is None:
        return None
    others = (after.machine - before.machine) - (after.ours - before.ours)
    return min(1.0, max(0.0, others / (seconds * os.sysconf("SC_CLK_TCK") * (os.cpu_count() or 1))))


def cpu_ms_per_image(before: CpuReading | None, after: CpuReading | None, images: int) -> float | None:
    """Our CPU time per image: unlike images/s, it barely moves when other work shares the CPU."""
    if before is None or after is None:
        return None
    return 1000 * (after.ours - before.ours) / os.sysconf("SC_CLK_TCK") / images


class QuietGate:
    """Holds each timed round back until other processes leave the CPU, and asks for a round
    they disturbed to be run again; waits ``patience`` seconds in all, then lets everything through."""

    def __init__(self, *, max_share: float, patience: float) -> None:
        self.max_share = max_share
        self.patience = patience  # seconds of waiting left

    def _active(self) -> bool:
        return self.max_share < 1.0 and self.patience > 0

    def wait(self, show: Callable[[str], None]) -> float:
        """Return after a one-second window in which others took at most ``max_share``; the
        seconds spent in busier windows before it."""
        waited = 0.0
        while self._active():
            before = read_cpu()
            time.sleep(1.0)
            share = other_share(before, read_cpu(), 1.0)
            if share is None or share <= self.max_share:
                break
            waited += 1.0
            self.patience -= 1.0
            show(f"waiting: other processes take {100 * share:.0f}% of the CPU")
        return waited

    def accepts(self, share: float | None) -> bool:
        return share is None or share <= self.max_share or not self._active()


# ---------------------------------------------------------------- measuring


def consume(batch: Batch) -> int:
    """Touch both tensors as a training step would (waiting for device work); return the image count."""
    images, targets = batch
    images[-1, -1, -1, -1].item()
    targets[-1].sum().item()
    return images.shape[0]


def describe_output(batch: Batch) -> dict[str, object]:
    """Shape, dtype and device of a batch, for the report and the fairness check."""
    images, targets = batch
    return {
        "images": {"shape": list(images.shape), "dtype": str(images.dtype), "device": str(images.device)},
        "targets": {"shape": list(targets.shape), "dtype": str(targets.dtype), "device": str(targets.device)},
    }


def check_fair(outputs: dict[str, dict], *, batch_size: int, image_size: int, num_classes: int) -> None:
    """Fail unless every contender yields float32 (B, 3, S, S) images, and soft (B, C) targets when it mixes."""
    for key, out in outputs.items():
        images, targets = out["images"], out["targets"]
        if images["shape"] != [batch_size, 3, image_size, image_size] or images["dtype"] != "torch.float32":
            raise RuntimeError(f"{key}: expected float32 images of shape {[batch_size, 3, image_size, image_size]}, "
                               f"got {images['dtype']} {images['shape']}")
        if key != "dali-nomix" and (targets["shape"] != [batch_size, num_classes]
                                    or targets["dtype"] != "torch.float32"):
            raise RuntimeError(f"{key}: expected float32 soft targets of shape {[batch_size, num_classes]}, "
                               f"got {targets['dtype']} {targets['shape']}")


def settle_batches(workers: int) -> int:
    """Batches to drain before timing a contender that sat idle: more than any loader prefetches
    (a DataLoader queues 2 per worker, DALI 2 per pipeline), so timing starts from an empty queue."""
    return 2 * workers + 2


class Progress:
    """A tqdm bar on a terminal: one step per batch, the running contender (or a wait) beside it."""

    def __init__(self, bar: tqdm) -> None:
        self.bar = bar

    def step(self, key: str) -> None:
        self.bar.set_postfix_str(key, refresh=False)
        self.bar.update()

    def show(self, text: str) -> None:
        self.bar.set_postfix_str(text)

    def grow(self, batches: int) -> None:
        self.bar.total += batches
        self.bar.refresh()


def warm_up(
    contenders: Sequence[Contender], streams: dict[str, Iterator[Batch]], *, batches: int, progress: Progress,
) -> dict[str, dict]:
    """Build pipelines, start workers and fill caches, in list order; return each contender's output."""
    outputs = {}
    for c in contenders:
        outputs[c.key] = describe_output(next(streams[c.key]))
        for _ in range(batches):
            consume(next(streams[c.key]))
            progress.step(c.key)
    return outputs


def time_once(key: str, stream: Iterator[Batch], settings: Settings, progress: Progress) -> dict:
    """Drain what the contender prefetched while idle, then time ``settings.batches`` batches."""
    for _ in range(settle_batches(settings.workers)):
        consume(next(stream))
        progress.step(key)
    cpu, start, images = read_cpu(), time.perf_counter(), 0
    for _ in range(settings.batches):
        images += consume(next(stream))
        progress.step(key)
    seconds, after = time.perf_counter() - start, read_cpu()
    return {"images_per_s": images / seconds, "cpu_ms_per_image": cpu_ms_per_image(cpu, after, images),
            "other_cpu_share": other_share(cpu, after, seconds)}


def round_orders(contenders: Sequence[Contender], *, repeats: int, seed: int) -> list[list[Contender]]:
    """One random order, rotated by one place each round: every contender runs first, in the
    middle and last equally often, so drift and carry-over hit all of them alike."""
    base = random.Random(seed).sample(list(contenders), len(contenders))
    return [base[r % len(base):] + base[:r % len(base)] for r in range(repeats)]


def time_rounds(
    contenders: Sequence[Contender], streams: dict[str, Iterator[Batch]], settings: Settings,
    *, progress: Progress,
) -> tuple[dict[str, list[dict]], list[list[str]]]:
    """Per contender, one record per round (images/s, CPU figures, attempts, wait); and the round orders."""
    gate = QuietGate(max_share=settings.max_other_share, patience=settings.patience)
    rounds: dict[str, list[dict]] = {c.key: [] for c in contenders}
    orders = round_orders(contenders, repeats=settings.repeats, seed=settings.seed)
    for order in orders:
        for c in order:
            waited = 0.0
            for attempt in range(1, REDOS + 2):
                waited += gate.wait(progress.show)
                record = time_once(c.key, streams[c.key], settings, progress)
                if attempt > REDOS or gate.accepts(record["other_cpu_share"]):
                    break
                progress.grow(settle_batches(settings.workers) + settings.batches)
            rounds[c.key].append({**record, "attempts": attempt, "waited_s": round(waited, 1)})
    return rounds, [[c.key for c in order] for order in orders]


def summarize(values: Sequence[float]) -> dict[str, float]:
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return {"median": float(median), "min": float(min(values)), "max": float(max(values)),
            "q1": float(q1), "q3": float(q3)}


# ---------------------------------------------------------------- machine and report


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
    versions = {"python": platform.python_version()}
    for package in ("torch", "torchvision", "nvidia-dali-cuda120", "numpy", "pillow", "dali-mixup"):
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
        for num, den, minimum in TARGETS
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
        f"{s['repeats']} rounds of {s['batches']} timed batches after {s['warmup']} warm-up batches; "
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


# ---------------------------------------------------------------- command line


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Compare training-input throughput: our DALI pipeline with mixing against the "
                    "DataLoader recipe with torchvision's MixUp/CutMix, on the same data and cores.")
    parser.add_argument("--data", type=Path, metavar="DIR", help="image folder, one sub-folder per class "
                        "(default: a built-in ImageNet-like synthetic set, generated once and cached)")
    parser.add_argument("--cache", type=Path, metavar="DIR", default=default_cache_dir(),
                        help="where the built-in set is cached (default: %(default)s)")
    parser.add_argument("--out", type=Path, metavar="DIR", default=Path(__file__).resolve().parent / "out",
                        help="folder for results.json, results.md and throughput.png (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="a run of well under a minute that checks the "
                        "benchmark works: small batches, few rounds, a small built-in set")
    parser.add_argument("--batch-size", type=int, metavar="N", help=f"images per batch "
                        f"(default: {FULL['batch_size']}, {QUICK['batch_size']} with --quick)")
    parser.add_argument("--image-size", type=int, metavar="PX", default=224,
                        help="side of the square output images (default: %(default)s)")
    parser.add_argument("--workers", type=int, metavar="N", default=len(os.sched_getaffinity(0)),
                        help="DALI threads and DataLoader worker processes, the same for every contender "
                             "(default: the usable cores, %(default)s)")
    parser.add_argument("--warmup", type=int, metavar="N", help=f"untimed batches per contender before the "
                        f"first round (default: {FULL['warmup']}, {QUICK['warmup']} with --quick)")
    parser.add_argument("--batches", type=int, metavar="N", help=f"timed batches per contender and round "
                        f"(default: {FULL['batches']}, {QUICK['batches']} with --quick)")
    parser.add_argument("--repeats", type=int, metavar="N", help=f"rounds, each running every contender in a "
                        f"rotated order (default: {FULL['repeats']}, {QUICK['repeats']} with --quick)")
    parser.add_argument("--max-other-share", type=float, metavar="SHARE", help="before each timed round, wait "
                        "until other processes take at most this share of the CPU, and run a round they "
                        "disturbed again (up to twice); 1 turns this off (default: "
                        f"{FULL['max_other_share']}, {QUICK['max_other_share']} with --quick)")
    parser.add_argument("--patience", type=float, metavar="SECONDS", help="the longest time, in all, to wait "
                        f"for other processes (default: {FULL['patience']:.0f}, {QUICK['patience']:.0f} with --quick)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of data order, augmentation and round order (default: %(default)s)")
    args = parser.parse_args(argv)
    for name in ("batch_size", "image_size", "workers", "batches", "repeats"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')}: expected an integer >= 1, got {value}")
    for name in ("warmup", "patience"):
        value = getattr(args, name)
        if value is not None and value < 0:
            parser.error(f"--{name}: expected a number >= 0, got {value}")
    if args.max_other_share is not None and not 0 <= args.max_other_share <= 1:
        parser.error(f"--max-other-share: expected a number in [0, 1], got {args.max_other_share}")
    return args


def settings_from(args: argparse.Namespace) -> Settings:
    preset = QUICK if args.quick else FULL
    chosen = {name: getattr(args, name) if getattr(args, name) is not None else default
              for name, default in preset.items()}
    return Settings(image_size=args.image_size, workers=args.workers, seed=args.seed, **chosen)


def run(contenders: Sequence[Contender], settings: Settings, *, num_classes: int) -> tuple[
        dict[str, list[dict]], dict[str, dict], list[list[str]]]:
    """Warm up, check the outputs match, time the rounds; a progress bar on a terminal.

    Returns each contender's round records and output description, and the round orders."""
    from tqdm import tqdm

    streams = {c.key: c.open() for c in contenders}
    per_contender = settings.warmup + settings.repeats * (settle_batches(settings.workers) + settings.batches)
    with tqdm(total=per_contender * len(contenders), unit="batch", disable=None) as bar:
        progress = Progress(bar)
        outputs = warm_up(contenders, streams, batches=settings.warmup, progress=progress)
        check_fair(outputs, batch_size=settings.batch_size, image_size=settings.image_size,
                   num_classes=num_classes)
        rounds, orders = time_rounds(contenders, streams, settings, progress=progress)
    return rounds, outputs, orders


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = dt.datetime.now().astimezone()
    settings = settings_from(args)
    try:
        data = resolve_data(args.data, cache=args.cache, quick=args.quick)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    backend = "torchvision" if torchvision_available() else "pillow"
    machine = describe_machine()
    contenders = build_contenders(data, settings, backend=backend, gpu=machine["gpu"] is not None)
    torch.manual_seed(settings.seed)
    rounds, outputs, orders = run(contenders, settings, num_classes=data.num_classes)
    report = build_report(
        contenders=contenders, rounds=rounds, outputs=outputs, orders=orders, settings=settings, data=data,
        backend=backend, machine=machine,
        started=started, argv=[Path(sys.argv[0]).name, *(sys.argv[1:] if argv is None else argv)],
    )
    print(write_outputs(report, args.out))
    print(f"written: {args.out / 'results.json'}, {args.out / 'results.md'}, {args.out / 'throughput.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

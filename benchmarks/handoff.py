"""The hand-off of DALI's CPU batches to torch: copying each output into a fresh torch tensor
against wrapping DALI's own buffer, on the same pipeline and cores.

``DALIGenericIterator`` copies (DALI's ``feed_ndarray`` into ``torch.empty``) only for pipelines
on DALI's older executors; on DALI 2's default one (``exec_dynamic``, which the pipelines of
``pipelines.train_pipeline`` get) it wraps the buffer with ``torch.from_dlpack``. Contenders,
timed in the same rotated rounds as the throughput benchmark's (``benchmarks.timing``), on
``train_pipeline`` with mixing on the CPU:

- ``copy``: the pipeline run directly, each output copied into ``torch.empty`` by ``feed_ndarray``;
- ``zero-copy``: the same, each output wrapped by ``torch.from_dlpack``;
- ``loader``: ``DALILoader`` as it is;
- ``memcpy`` (a reference line, no pipeline): a batch of images copied into a fresh tensor.

Then the hand-off alone, with nothing else running: milliseconds per batch of each way.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nvidia.dali.backend import TensorCPU, TensorListCPU
from nvidia.dali.plugin.pytorch.torch_utils import feed_ndarray, to_torch_type

from benchmarks.recipe import (CUTMIX_ALPHA, LABEL_SMOOTHING, MIXUP_ALPHA, QUIET_SHARE, Batch, Contender,
                               Settings)
from benchmarks.synthetic import default_cache_dir
from benchmarks.throughput import resolve_data
from benchmarks.timing import Progress, check_fair, settle_batches, summarize, time_rounds
from dali_mixup import DALILoader, MixConfig
from pipelines import PipelineSpec, train_pipeline

Handoff = Callable[[TensorCPU], torch.Tensor]
FULL = dict(batch_size=128, warmup=2, batches=12, repeats=7, max_other_share=QUIET_SHARE, patience=120.0)
QUICK = dict(batch_size=16, warmup=1, batches=3, repeats=2, max_other_share=1.0, patience=0.0)
ALONE_REPEATS = 30  # hand-offs of one batch, per way, for the figures of the hand-off alone


def copy_handoff(tensor: TensorCPU) -> torch.Tensor:
    """What ``DALIGenericIterator`` does on DALI's older executors: a copy into a fresh tensor."""
    out = torch.empty(tensor.shape(), dtype=to_torch_type[tensor.dtype])
    feed_ndarray(tensor, out)
    return out


def zero_copy_handoff(tensor: TensorCPU) -> torch.Tensor:
    """What it does on DALI 2's default executor: torch takes DALI's buffer."""
    return torch.from_dlpack(tensor)


HANDOFFS: dict[str, Handoff] = {"copy": copy_handoff, "zero-copy": zero_copy_handoff}


def make_spec(root: Path, num_classes: int, settings: Settings) -> PipelineSpec:
    mix = MixConfig(mixup_alpha=MIXUP_ALPHA, cutmix_alpha=CUTMIX_ALPHA,
                    label_smoothing=LABEL_SMOOTHING, num_classes=num_classes)
    return train_pipeline(str(root), batch_size=settings.batch_size, image_size=settings.image_size,
                          mix=mix, num_threads=settings.workers, device="cpu", seed=settings.seed)


def pipeline_stream(spec: PipelineSpec, handoff: Handoff) -> Iterator[Batch]:
    """Endless batches of the pipeline, driven as ``DALIGenericIterator`` drives it (share the
    outputs, hand them to torch, release them, schedule the next run)."""
    pipe = spec.pipeline()
    pipe.build()
    pipe.schedule_run()
    while True:
        images, targets = pipe.share_outputs()
        batch = handoff(images.as_tensor()), handoff(targets.as_tensor())
        pipe.release_outputs()
        pipe.schedule_run()
        yield batch


def loader_stream(spec: PipelineSpec) -> Iterator[Batch]:
    loader = DALILoader(spec)
    while True:
        yield from loader


def memcpy(target: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """One plain memcpy on this thread (torch's ``copy_`` would spread over its threads)."""
    ctypes.memmove(target.data_ptr(), source.data_ptr(), source.nbytes)
    return target


def memcpy_stream(settings: Settings, num_classes: int) -> Iterator[Batch]:
    """A batch's images copied into a fresh tensor each time, as the copying hand-off allocates."""
    size = settings.image_size
    images = torch.rand(settings.batch_size, 3, size, size)
    targets = torch.full((settings.batch_size, num_classes), 1 / num_classes)
    while True:
        yield memcpy(torch.empty_like(images), images), targets


def build_contenders(spec: PipelineSpec, settings: Settings, num_classes: int) -> list[Contender]:
    contenders = [
        Contender(key, number, f"train_pipeline run directly, hand-off: {key}",
                  lambda handoff=handoff: pipeline_stream(spec, handoff))
        for number, (key, handoff) in enumerate(HANDOFFS.items(), start=1)
    ]
    contenders.append(Contender("loader", 3, "DALILoader as it is", lambda: loader_stream(spec)))
    contenders.append(Contender("memcpy", 0, "memcpy of a batch of images into a fresh tensor",
                                lambda: memcpy_stream(settings, num_classes), ceiling=True))
    return contenders


def time_alone(handoff: Handoff, tensor: TensorCPU) -> dict[str, float]:
    """Wall and CPU milliseconds per hand-off of ``tensor`` (median over repeats); each
    result is dropped before the next, as a training step drops its batch."""
    walls, cpus = [], []
    for _ in range(ALONE_REPEATS):
        wall, cpu = time.perf_counter(), time.process_time()
        out = handoff(tensor)
        out[-1, -1, -1, -1].item()
        walls.append(1000 * (time.perf_counter() - wall))
        cpus.append(1000 * (time.process_time() - cpu))
        del out
    return {"wall_ms": float(np.median(walls)), "cpu_ms": float(np.median(cpus))}


def handoff_alone(settings: Settings) -> dict[str, dict[str, float]]:
    """Each way of handing over one batch of images, with no pipeline running; ``memcpy``: a
    plain copy into a tensor allocated once (warm pages), the floor of any copy."""
    size = settings.image_size
    array = np.random.default_rng(0).random((settings.batch_size, 3, size, size), dtype=np.float32)
    tensor = TensorListCPU(array, "CHW").as_tensor()
    results = {key: time_alone(handoff, tensor) for key, handoff in HANDOFFS.items()}
    source, target = torch.from_numpy(array), torch.empty(array.shape)
    results["memcpy"] = time_alone(lambda _: memcpy(target, source), tensor)
    return results


def paired(rounds: dict[str, list[dict]], key: str, field: str,
           compare: Callable[[float, float], float]) -> float | None:
    """The median over rounds of ``compare(key's figure, copy's figure)`` within each round:
    drift and other processes' load hit both alike within a round."""
    values = [compare(mine[field], base[field]) for mine, base in zip(rounds[key], rounds["copy"])
              if mine[field] is not None and base[field] is not None]
    return float(np.median(values)) if values else None


def table(rounds: dict[str, list[dict]], contenders: Sequence[Contender]) -> str:
    """Medians over rounds: images/s with its quartiles and CPU ms per image, each also as the
    median of its per-round ratio (difference) to ``copy``; and other processes' CPU share."""
    lines = ["| contender | images/s (median, q1-q3) | x copy (paired) | CPU ms/image | - copy (paired) "
             "| others' CPU, steal too |", "|---|---|---|---|---|---|"]
    for c in contenders:
        speed = summarize([r["images_per_s"] for r in rounds[c.key]])
        cpu = [r["cpu_ms_per_image"] for r in rounds[c.key] if r["cpu_ms_per_image"] is not None]
        others = [r["other_cpu_share"] for r in rounds[c.key] if r["other_cpu_share"] is not None]
        ratio = paired(rounds, c.key, "images_per_s", lambda a, b: a / b)
        saved = paired(rounds, c.key, "cpu_ms_per_image", lambda a, b: a - b)
        lines.append(f"| {c.key}: {c.label} | {speed['median']:.1f} ({speed['q1']:.1f}-{speed['q3']:.1f}) "
                     f"| {ratio:.3f} | {fmt(np.median(cpu) if cpu else None)} | {fmt(saved, '+.3f')} "
                     f"| {fmt(100 * np.median(others) if others else None, '.0f')}% |")
    return "\n".join(lines)


def fmt(value: float | None, spec: str = ".2f") -> str:
    return "n/a" if value is None else format(value, spec)


def alone_table(results: dict[str, dict[str, float]], batch_size: int) -> str:
    lines = ["| hand-off alone | wall ms/batch | CPU ms/batch | CPU ms/image |", "|---|---|---|---|"]
    for key, r in results.items():
        lines.append(f"| {key} | {r['wall_ms']:.3f} | {r['cpu_ms']:.3f} | {r['cpu_ms'] / batch_size:.4f} |")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Time the hand-off of DALI's CPU batches to torch: "
                                                 "a copy against DALI's own buffer.")
    parser.add_argument("--data", type=Path, metavar="DIR", help="image folder (default: the throughput "
                        "benchmark's built-in synthetic set)")
    parser.add_argument("--cache", type=Path, metavar="DIR", default=default_cache_dir(),
                        help="where the built-in set is cached (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="a short run that checks the benchmark works")
    parser.add_argument("--image-size", type=int, default=224, metavar="PX")
    parser.add_argument("--workers", type=int, default=min(2, len(os.sched_getaffinity(0))), metavar="N",
                        help="DALI threads (default: %(default)s)")
    parser.add_argument("--repeats", type=int, metavar="N", help=f"rounds (default: {FULL['repeats']})")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    from tqdm import tqdm

    args = parse_args(argv)
    preset = dict(QUICK if args.quick else FULL)
    if args.repeats is not None:
        preset["repeats"] = args.repeats
    settings = Settings(image_size=args.image_size, workers=args.workers, seed=args.seed, **preset)
    data = resolve_data(args.data, cache=args.cache, quick=args.quick)
    contenders = build_contenders(make_spec(data.root, data.num_classes, settings), settings,
                                  data.num_classes)

    def check(outputs: dict[str, dict]) -> None:
        check_fair(outputs, batch_size=settings.batch_size, image_size=settings.image_size,
                   num_classes=data.num_classes)

    per_contender = settings.repeats * (settings.warmup + settle_batches(settings.workers) + settings.batches)
    with tqdm(total=per_contender * len(contenders), unit="batch", disable=None) as bar:
        rounds, orders, _ = time_rounds(contenders, settings, progress=Progress(bar), check=check)
    print(f"batch {settings.batch_size}, {settings.image_size} px, float32 NCHW, {settings.workers} DALI "
          f"threads, {len(data.samples)} images; {settings.repeats} rounds of {settings.batches} batches")
    print("round orders:", "; ".join(" ".join(order) for order in orders))
    print(table(rounds, contenders))
    print()
    print(alone_table(handoff_alone(settings), settings.batch_size))
    return 0


if __name__ == "__main__":
    sys.exit(main())

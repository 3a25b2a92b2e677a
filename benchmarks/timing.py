"""Timing the throughput benchmark's contenders: CPU time read from /proc, waiting for a quiet
machine, warm-up and interleaved timed rounds."""

from __future__ import annotations

import gc
import os
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from tqdm import tqdm

from benchmarks.recipe import Batch, Contender, Settings
from dali_mixup.memory import release_free_memory

REDOS = 2  # times a round disturbed by other processes is run again


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


def consume(batch: Batch) -> int:
    """Touch both tensors as a training step would (waiting for device work); return the image count.

    The decode-only ceiling hands over DALI's own CPU batches from ``pipe.run()``, complete on
    return: they are counted as they are, with no copy into torch."""
    images, targets = batch
    if not isinstance(images, torch.Tensor):
        return len(images)
    images[-1, -1, -1, -1].item()
    targets[-1].sum().item()
    return images.shape[0]


def describe_output(batch: Batch) -> dict[str, object]:
    """Shape, dtype and device of a batch, for the report and the fairness check."""
    images, targets = batch
    if not isinstance(images, torch.Tensor):  # DALI batches of differently sized samples
        return {name: {"batch": len(t), "layout": t.layout(), "dtype": str(t.dtype), "device": "cpu"}
                for name, t in (("images", images), ("targets", targets))}
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


def warm_up(stream: Iterator[Batch], key: str, *, batches: int, progress: Progress) -> Batch:
    """Build the pipeline or start the workers, then run ``batches`` batches (at least one, the
    one returned) to fill caches."""
    for _ in range(max(batches, 1)):
        batch = next(stream)
        consume(batch)
        progress.step(key)
    return batch


def settle_batches(workers: int) -> int:
    """Batches to drain before timing a contender that sat idle (its warm-up done, while the
    machine was checked for quiet): more than any loader prefetches (a DataLoader queues 2 per
    worker, DALI 2 per pipeline), so that timing starts from an empty queue."""
    return 2 * workers + 2


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
    contenders: Sequence[Contender], settings: Settings, *, progress: Progress,
    check: Callable[[dict[str, dict]], None],
) -> tuple[dict[str, list[dict]], list[list[str]], dict[str, dict]]:
    """Per contender, one record per round (images/s, CPU figures, attempts, wait); the round
    orders; and each contender's output description, which ``check`` sees after the first
    round, before the others are timed.

    Every round runs a fresh instance of each contender, warmed up anew and closed after: two
    instances of one DALI pipeline in one process differ by a few percent in speed for as long
    as they live (where their buffers land in memory), which more rounds of one instance would
    not average out.
    """
    gate = QuietGate(max_share=settings.max_other_share, patience=settings.patience)
    rounds: dict[str, list[dict]] = {c.key: [] for c in contenders}
    outputs: dict[str, dict] = {}
    orders = round_orders(contenders, repeats=settings.repeats, seed=settings.seed)
    for order in orders:
        for c in order:
            stream = c.open()
            outputs[c.key] = describe_output(warm_up(stream, c.key, batches=settings.warmup, progress=progress))
            waited = 0.0
            for attempt in range(1, REDOS + 2):
                waited += gate.wait(progress.show)
                record = time_once(c.key, stream, settings, progress)
                if attempt > REDOS or gate.accepts(record["other_cpu_share"]):
                    break
                progress.grow(settle_batches(settings.workers) + settings.batches)
            stream.close()  # stops the pipeline or the workers before the next contender runs
            gc.collect()
            release_free_memory()  # every instance starts from a similar heap
            rounds[c.key].append({**record, "attempts": attempt, "waited_s": round(waited, 1)})
        if order is orders[0]:  # every contender has run once
            check(outputs)
    return rounds, [[c.key for c in order] for order in orders], outputs


def summarize(values: Sequence[float]) -> dict[str, float]:
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return {"median": float(median), "min": float(min(values)), "max": float(max(values)),
            "q1": float(q1), "q3": float(q3)}

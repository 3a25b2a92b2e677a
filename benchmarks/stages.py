"""Where our CPU training pipeline spends its time: CPU milliseconds per image, stage by stage.

Each line is a pipeline one stage longer than the line above, on the same files, batch and
threads, timed in the same rotated rounds; a stage's cost is its line's CPU time per image
minus the line above (CPU time of this process: DALI's threads and the loader's Python
thread). CPU time barely moves when other work shares the machine, where images/s does.
The loader's line starts each round with the batches DALI prefetched for it (up to 2) while
other lines ran: time many batches per round (``--batches``, default 24) to keep that small.

    python benchmarks/stages.py                  # the throughput benchmark's built-in data set
    python benchmarks/stages.py --data DIR       # any image folder
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from nvidia.dali import fn, pipeline_def, types

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.recipe import HFLIP, RATIO, SCALE, mix_config
from benchmarks.synthetic import default_cache_dir, ensure_dataset
from benchmarks.throughput import FULL_DATA
from dali_mixup import DALILoader
from dali_mixup.resample import resize
from pipelines import train_pipeline

IMAGE_SIZE = 224


def _runs(pipe, batch_size: int) -> Iterator[int]:
    """Endless ``pipe.run()``s of a built-or-not pipeline, epoch after epoch; yields the images
    of each batch."""
    pipe.build()
    while True:
        try:
            pipe.run()
        except StopIteration:
            pipe.reset()
            continue
        yield batch_size


def _graph_stream(root: Path, *, batch_size: int, threads: int, stage: str) -> Iterator[int]:
    """Batches of a hand-built graph that stops after ``stage``: "read", "decode" (the crop
    window), "resample" (ours), "dali-resize" (DALI's resize_crop_mirror instead)."""

    @pipeline_def(batch_size=batch_size, num_threads=threads, device_id=None, seed=1)
    def graph():
        encoded, labels = fn.readers.file(file_root=str(root), shuffle_after_epoch=True, pad_last_batch=True)
        if stage == "read":
            return encoded, labels
        images = fn.decoders.image_random_crop(encoded, device="cpu", output_type=types.RGB,
                                               random_area=SCALE, random_aspect_ratio=RATIO)
        flip = fn.random.coin_flip(probability=HFLIP)
        if stage == "resample":
            images = resize(images, size=(IMAGE_SIZE, IMAGE_SIZE), mirror=flip)
        elif stage == "dali-resize":
            images = fn.resize_crop_mirror(images, size=(IMAGE_SIZE, IMAGE_SIZE), mirror=flip)
        return images, labels

    yield from _runs(graph(), batch_size)


def _pipeline_stream(root: Path, *, batch_size: int, threads: int, loader: bool,
                     num_classes: int) -> Iterator[int]:
    """Batches of ``train_pipeline`` with mixing: ``pipe.run()`` alone, or through ``DALILoader``
    (the hand-off to torch)."""
    spec = train_pipeline(root, batch_size=batch_size, image_size=IMAGE_SIZE, mix=mix_config(num_classes),
                          scale=SCALE, ratio=RATIO, hflip=HFLIP, num_threads=threads, device="cpu")
    if loader:
        batches = DALILoader(spec, drop_last=True)
        while True:
            for images, _ in batches:
                yield images.shape[0]
    yield from _runs(spec.pipeline(), batch_size)


def _time(stream: Iterator[int], batches: int) -> tuple[float, float]:
    """(images/s, CPU ms per image) over ``batches`` batches of ``stream``."""
    images = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(batches):
        images += next(stream)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return images / wall, 1e3 * cpu / images


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="an image folder (default: the built-in data set)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", type=int, default=24, help="timed batches per line and round")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args(argv)
    root = args.data or ensure_dataset(FULL_DATA, cache_dir=default_cache_dir())
    num_classes = sum(1 for p in root.iterdir() if p.is_dir())
    common = dict(batch_size=args.batch_size, threads=args.threads)
    lines: dict[str, Callable[[], Iterator[int]]] = {
        "read": lambda: _graph_stream(root, stage="read", **common),
        "+ decode the crop window": lambda: _graph_stream(root, stage="decode", **common),
        "+ resample and flip (ours)": lambda: _graph_stream(root, stage="resample", **common),
        "+ mix and normalize (train_pipeline)": lambda: _pipeline_stream(root, loader=False,
                                                                          num_classes=num_classes, **common),
        "+ hand-off to torch (DALILoader)": lambda: _pipeline_stream(root, loader=True,
                                                                      num_classes=num_classes, **common),
        "(instead of ours: DALI's resize_crop_mirror)": lambda: _graph_stream(root, stage="dali-resize", **common),
    }
    streams = {name: make() for name, make in lines.items()}
    for stream in streams.values():  # warm-up: build, first batches
        for _ in range(3):
            next(stream)
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in lines}
    names = list(lines)
    for r in range(args.rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            results[name].append(_time(streams[name], args.batches))
    print(f"data: {root}  batch {args.batch_size}, {args.threads} threads, {args.rounds} rounds x "
          f"{args.batches} batches per line; medians")
    rate = {name: statistics.median(v[0] for v in results[name]) for name in names}
    cpu = {name: statistics.median(v[1] for v in results[name]) for name in names}
    print("| line | images/s | CPU ms/image | stage's CPU ms/image |\n|---|---:|---:|---:|")
    previous = 0.0
    for name in names:
        # The last line replaces our resample: its stage is counted from the decoding line.
        base = cpu["+ decode the crop window"] if name.startswith("(instead") else previous
        print(f"| {name} | {rate[name]:.0f} | {cpu[name]:.2f} | {cpu[name] - base:+.2f} |")
        previous = base if name.startswith("(instead") else cpu[name]
    return 0


if __name__ == "__main__":
    sys.exit(main())

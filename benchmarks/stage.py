"""Time the mixing stage alone on a resident batch, beside a plain copy of the same batch.

The copy is the memory floor: a stage that reads the batch and writes a new one cannot beat
it. Both run in the same DALI pipeline set-up, fed the same zero-copy batch each iteration.
On the CPU every configuration runs twice: through the stage's own operator, and through
DALI's operators (the GPU path, and the CPU one without a C++ compiler).

    python benchmarks/stage.py                      # CPU, 64 x 3 x 224 x 224 float32
    python benchmarks/stage.py --device gpu         # on a CUDA machine
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable

import numpy as np
from nvidia.dali import fn, pipeline_def, types

from dali_mixup import MixConfig, mix, native

CONFIGS = {
    "mixup": MixConfig(mixup_alpha=0.8, num_classes=1000),
    "cutmix": MixConfig(mixup_alpha=0.0, cutmix_alpha=1.0, num_classes=1000),
    "switch (batch)": MixConfig(mixup_alpha=0.8, cutmix_alpha=1.0, num_classes=1000),
    "switch (elem)": MixConfig(mixup_alpha=0.8, cutmix_alpha=1.0, mode="elem", num_classes=1000),
}


def _pipeline(body: Callable, *, batch: np.ndarray, labels: np.ndarray, layout: str, device: str,
              threads: int):
    samples = list(batch)
    ids = [np.array([i % 1000], dtype=np.int32) for i in range(len(batch))]

    @pipeline_def(batch_size=len(batch), num_threads=threads,
                  device_id=0 if device == "gpu" else None, seed=0, prefetch_queue_depth=2,
                  enable_conditionals=True)  # as train_pipeline: each sample runs only its branch
    def pipe():
        x = fn.external_source(source=lambda: samples, batch=True, layout=layout, no_copy=True)
        y = fn.external_source(source=lambda: ids, batch=True, no_copy=True)
        if device == "gpu":
            x = x.gpu()
        return body(x, y)

    p = pipe()
    p.build()
    return p


def _time(pipe, iterations: int, repeats: int) -> list[float]:
    """Seconds per iteration, one figure per repeat, after a warm-up."""
    for _ in range(3):
        pipe.run()
    figures = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(iterations):
            pipe.run()
        figures.append((time.perf_counter() - start) / iterations)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--layout", choices=["CHW", "HWC"], default="CHW")
    parser.add_argument("--dtype", choices=["float32", "uint8"], default="float32")
    parser.add_argument("--threads", type=int, default=2, help="DALI CPU threads")
    parser.add_argument("--iterations", type=int, default=20, help="iterations per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    shape = (3, args.image_size, args.image_size) if args.layout == "CHW" else (args.image_size, args.image_size, 3)
    rng = np.random.default_rng(0)
    batch = (rng.integers(0, 256, (args.batch_size, *shape), dtype=np.uint8) if args.dtype == "uint8"
             else rng.normal(size=(args.batch_size, *shape)).astype(np.float32))
    out_bytes = args.batch_size * int(np.prod(shape)) * 4  # every contender writes float32

    contenders: dict[str, tuple[Callable, bool]] = {
        "copy (floor)": (lambda x, y: fn.cast(x, dtype=types.FLOAT) if args.dtype == "uint8" else fn.copy(x), False)}
    # Without the CPU operator (no compiler) both rows would be DALI's operators: show one.
    ours = args.device == "cpu" and native.available()
    for name, config in CONFIGS.items():
        body = (lambda x, y, config=config: mix(x, y, config, layout=args.layout))
        contenders[name if ours or args.device == "gpu" else f"{name}, DALI's operators"] = (body, False)
        if ours:
            contenders[f"{name}, DALI's operators"] = (body, True)
    pipes = {}
    for name, (body, dalis) in contenders.items():
        with native.dalis_operators() if dalis else contextlib.nullcontext():
            pipes[name] = _pipeline(body, batch=batch, labels=None, layout=args.layout,
                                    device=args.device, threads=args.threads)
    # Interleave repeats so drift on a shared machine hits every contender alike.
    times: dict[str, list[float]] = {name: [] for name in pipes}
    for _ in range(args.repeats):
        for name, pipe in pipes.items():
            times[name] += _time(pipe, args.iterations, 1)
    floor = statistics.median(times["copy (floor)"])
    print(f"\n{args.batch_size} x {' x '.join(map(str, shape))} {args.dtype} -> float32, "
          f"device {args.device}, {args.threads} DALI threads, median of {args.repeats} x {args.iterations} iterations\n")
    print("| contender | images/s | GB/s written | time / copy time |")
    print("|---|---:|---:|---:|")
    for name, figures in times.items():
        t = statistics.median(figures)
        print(f"| {name} | {args.batch_size / t:,.0f} | {out_bytes / t / 1e9:.2f} | {t / floor:.2f} |")


if __name__ == "__main__":
    main()

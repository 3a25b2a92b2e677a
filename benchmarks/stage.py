"""Time the mixing stage alone on a resident batch, beside a plain copy.

The copy is the memory floor: a stage that reads the batch and writes a new one cannot beat
it. Every contender runs in the same DALI pipeline set-up, fed the same batch each iteration
without a copy. Every configuration runs twice: through the stage's own operator, and
through DALI's operators (what the stage falls back to where its operator cannot be built).

On the CPU the floor copies the input batch to float32. On the GPU the batch is put on the
device once, before timing (no host-to-device copy is timed), and the floor is a
device-to-device copy of a batch the size of the stage's output; the target is the stage
on our operator within ``GPU_TARGET`` times that copy's time, and the worst configuration's
ratio is reported against it.

    python benchmarks/stage.py                      # CPU, 64 x 3 x 224 x 224 float32
    python benchmarks/stage.py --device gpu         # 256 x 224 x 224 x 3 uint8 -> float32 CHW normalized
    python benchmarks/stage.py --device gpu --json stage.json   # also every figure as JSON
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from nvidia.dali import backend, fn, pipeline_def, types

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from dali_mixup import MixConfig, Normalize, mix, native
from pipelines import IMAGENET_MEAN, IMAGENET_STD

CONFIGS = {
    "mixup": MixConfig(mixup_alpha=0.8, num_classes=1000),
    "cutmix": MixConfig(mixup_alpha=0.0, cutmix_alpha=1.0, num_classes=1000),
    "switch (batch)": MixConfig(mixup_alpha=0.8, cutmix_alpha=1.0, num_classes=1000),
    "switch (elem)": MixConfig(mixup_alpha=0.8, cutmix_alpha=1.0, mode="elem", num_classes=1000),
}
COPY = "copy (floor)"
GPU_TARGET = 1.5  # our operator on the GPU: at most this many times the copy's time
# Per device: batch size, input layout and dtype, and whether the stage normalizes (to CHW).
DEFAULTS = {
    "cpu": {"batch_size": 64, "layout": "CHW", "dtype": "float32", "normalize": False},
    "gpu": {"batch_size": 256, "layout": "HWC", "dtype": "uint8", "normalize": True},
}
# ImageNet's mean and std in the units of uint8 pixels, output CHW, as train_pipeline gives them.
NORMALIZE = Normalize(mean=[255 * m for m in IMAGENET_MEAN], std=[255 * s for s in IMAGENET_STD], layout="CHW")

@dataclass(frozen=True)
class Contender:
    name: str
    body: Callable  # (images, labels) DataNodes -> what the pipeline outputs
    feed: object  # the batch it reads: a numpy array (CPU) or a TensorListGPU (GPU)
    layout: str  # the batch's
    dalis: bool = False  # defined on DALI's operators rather than the stage's own
    ours: bool = False  # the stage on its own operator


def _pipeline(c: Contender, *, device: str, threads: int):
    """A built pipeline that runs ``c.body`` on ``c.feed`` each iteration, without copying it in."""
    on_gpu = device == "gpu"
    samples = c.feed if on_gpu else list(c.feed)
    size = len(c.feed)
    ids = [np.array([i % 1000], dtype=np.int32) for i in range(size)]

    @pipeline_def(batch_size=size, num_threads=threads, device_id=0 if on_gpu else None, seed=0,
                  prefetch_queue_depth=2,
                  enable_conditionals=True)  # as train_pipeline: each sample runs only its branch
    def pipe():
        x = fn.external_source(source=lambda: samples, batch=True, layout=c.layout, no_copy=True,
                               device=device)
        y = fn.external_source(source=lambda: ids, batch=True, no_copy=True)
        return c.body(x, y)

    with native.dalis_operators() if c.dalis else contextlib.nullcontext():
        p = pipe()
        p.build()
    return p


def _wait(outputs: Sequence) -> None:
    """Wait for the GPU work behind ``outputs``: a pipeline's run returns once that work is queued."""
    for out in outputs:
        stream = getattr(out, "stream", None)  # GPU outputs only
        if stream is not None:
            backend.CUDAStreamSynchronize(stream)


def _on_device(batch: np.ndarray, layout: str) -> tuple[object, object]:
    """The batch copied to the GPU once, as a TensorListGPU, and the pipeline that owns its memory
    (keep it alive while the batch is used)."""

    @pipeline_def(batch_size=len(batch), num_threads=1, device_id=0, prefetch_queue_depth=1)
    def upload():
        return fn.external_source(source=lambda: list(batch), batch=True, layout=layout).gpu()

    pipe = upload()
    pipe.build()
    outputs = pipe.run()
    _wait(outputs)
    return pipe, outputs[0]


def _time(pipe, iterations: int) -> float:
    """Seconds per iteration, after a warm-up; on the GPU up to the end of the last iteration's work."""
    for _ in range(3):
        _wait(pipe.run())
    start = time.perf_counter()
    for _ in range(iterations):
        outputs = pipe.run()
    _wait(outputs)
    return (time.perf_counter() - start) / iterations


def stage_target(rows: Sequence[dict]) -> dict | None:
    """The GPU target from the table's rows: the worst of our operator's configurations, its
    time over the copy's; None without such rows."""
    ours = [row for row in rows if row["ours"]]
    if not ours:
        return None
    worst = max(ours, key=lambda row: row["time_over_copy"])
    ratio = worst["time_over_copy"]
    return {"contender": worst["name"], "ratio": ratio, "maximum": GPU_TARGET, "met": ratio <= GPU_TARGET}


def render_table(rows: Sequence[dict]) -> str:
    lines = ["| contender | images/s | GB/s written | time / copy time |", "|---|---:|---:|---:|"]
    lines += [f"| {r['name']} | {r['images_per_s']:,.0f} | {r['gb_per_s']:.2f} | {r['time_over_copy']:.2f} |"
              for r in rows]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    parser.add_argument("--batch-size", type=int, help="default: 64 on the CPU, 256 on the GPU")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--layout", choices=["CHW", "HWC"], help="input layout (default: CHW on the CPU, HWC on the GPU)")
    parser.add_argument("--dtype", choices=["float32", "uint8"],
                        help="input dtype (default: float32 on the CPU, uint8 on the GPU)")
    parser.add_argument("--normalize", action=argparse.BooleanOptionalAction,
                        help="normalize to float32 CHW in the stage (default: on the GPU only)")
    parser.add_argument("--threads", type=int, default=2, help="DALI CPU threads")
    parser.add_argument("--iterations", type=int, default=20, help="iterations per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write every figure to this JSON file")
    args = parser.parse_args(argv)
    for name, default in DEFAULTS[args.device].items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    return args


def _shape(layout: str, size: int) -> tuple[int, int, int]:
    return (3, size, size) if layout == "CHW" else (size, size, 3)


def contenders(args: argparse.Namespace, *, keep: list) -> list[Contender]:
    """The copy, then each configuration on our operator (where it is built) and on DALI's.
    ``keep`` receives what must outlive the pipelines (the pipelines owning GPU batches)."""
    shape = _shape(args.layout, args.image_size)
    rng = np.random.default_rng(0)
    batch = (rng.integers(0, 256, (args.batch_size, *shape), dtype=np.uint8) if args.dtype == "uint8"
             else rng.normal(size=(args.batch_size, *shape)).astype(np.float32))
    normalize = NORMALIZE if args.normalize else None
    if args.device == "gpu":
        out_layout = NORMALIZE.layout if args.normalize else args.layout
        out_batch = rng.random((args.batch_size, *_shape(out_layout, args.image_size)), dtype=np.float32)
        owner, feed = _on_device(batch, args.layout)
        copy_owner, copy_feed = _on_device(out_batch, out_layout)
        keep += [owner, copy_owner]
        copy = Contender(COPY, lambda x, y: fn.copy(x), copy_feed, out_layout)
    else:
        feed = batch
        copy = Contender(COPY, (lambda x, y: fn.cast(x, dtype=types.FLOAT)) if args.dtype == "uint8"
                         else (lambda x, y: fn.copy(x)), batch, args.layout)
    found = [copy]
    # Without our operator both rows would be DALI's operators: show one.
    ours = native.available(args.device)
    for name, config in CONFIGS.items():
        def body(x, y, config=config):
            return mix(x, y, config, layout=args.layout, normalize=normalize)  # images and targets
        if ours:
            found.append(Contender(name, body, feed, args.layout, ours=True))
        found.append(Contender(f"{name}, DALI's operators", body, feed, args.layout, dalis=True))
    return found


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    shape = _shape(args.layout, args.image_size)
    keep: list = []
    found = contenders(args, keep=keep)
    pipes = {c.name: _pipeline(c, device=args.device, threads=args.threads) for c in found}
    # Interleave repeats so drift on a shared machine hits every contender alike.
    times: dict[str, list[float]] = {name: [] for name in pipes}
    for _ in range(args.repeats):
        for name, pipe in pipes.items():
            times[name].append(_time(pipe, args.iterations))
    floor = statistics.median(times[COPY])
    out_bytes = args.batch_size * int(np.prod(shape)) * 4  # every contender writes float32
    rows = []
    for c in found:
        t = statistics.median(times[c.name])
        rows.append({"name": c.name, "ours": c.ours, "seconds": t, "images_per_s": args.batch_size / t,
                     "gb_per_s": out_bytes / t / 1e9, "time_over_copy": t / floor})
    output = f"float32 {NORMALIZE.layout} normalized" if args.normalize else "float32"
    floor_text = ("a device-to-device copy of the output batch" if args.device == "gpu"
                  else "a copy of the input batch to float32")
    print(f"\n{args.batch_size} x {' x '.join(map(str, shape))} {args.dtype} {args.layout} -> {output}, "
          f"device {args.device}{' (resident batch)' if args.device == 'gpu' else ''}, {args.threads} DALI threads, "
          f"median of {args.repeats} x {args.iterations} iterations; floor: {floor_text}\n")
    print(render_table(rows))
    target = stage_target(rows) if args.device == "gpu" else None
    if target is not None:
        print(f"\ntarget: our operator within {GPU_TARGET}x the copy's time; worst: {target['contender']} at "
              f"{target['ratio']:.2f}x: {'met' if target['met'] else 'missed'}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "device": args.device, "batch_size": args.batch_size, "input": {"shape": list(shape), "dtype": args.dtype,
                                                                             "layout": args.layout},
            "output": output, "floor": floor_text, "threads": args.threads, "iterations": args.iterations,
            "repeats": args.repeats, "rows": rows, "target": target}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Per-operation cost of the training recipe's image operations on the CPU: ours (the stage's
operators), DALI's own CPU operator for the same operation where DALI has one (what a DALI graph
used before ours), and Pillow / torch (what timm's and torchvision's DataLoader workers run).

Every contender works on the same 224 x 224 crops of the built-in data set, on one thread; a
DALI line's figure is its pipeline's time per image minus that of a pipeline that only hands
the images on (no operator), so feeding them cancels out and each line includes writing its
output; the plain copy of the images (DALI's fn.copy) is printed first as the floor of any
operator that writes a new image. Milliseconds per image, medians of ``--repeats`` timed runs.

    python benchmarks/augment_ops.py            # the throughput benchmark's built-in data set
"""

from __future__ import annotations

import argparse
import gc
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from nvidia.dali import fn, pipeline_def, types
from PIL import Image, ImageEnhance, ImageOps

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.synthetic import default_cache_dir, ensure_dataset
from benchmarks.throughput import FULL_DATA
from dali_mixup.augment_ops import Op, apply_ops
from dali_mixup.erasing import Erasing, random_erasing

SIZE = 224
BATCH = 32
WARMUP = 10
FILL = (124, 116, 104)  # timm's img_mean for ImageNet's mean
BILINEAR, BICUBIC = Image.Resampling.BILINEAR, Image.Resampling.BICUBIC
DaliOp = Callable | None


def crops(root: Path, count: int) -> list[np.ndarray]:
    """``count`` centre crops of the data set's first images, resized to SIZE: uint8 HWC."""
    files = sorted(root.rglob("*.jpg"))[:count]
    out = []
    for path in files:
        image = Image.open(path).convert("RGB")
        side = min(image.size)
        left, top = (image.width - side) // 2, (image.height - side) // 2
        out.append(np.asarray(image.crop((left, top, left + side, top + side)).resize((SIZE, SIZE), BILINEAR)))
    return out


def pipeline(inputs: list[np.ndarray], layout: str, make: Callable):
    """A one-thread CPU pipeline applying ``make`` to ``inputs`` (one batch), built."""
    @pipeline_def(batch_size=len(inputs), num_threads=1, device_id=None, seed=1, prefetch_queue_depth=1)
    def pipe():
        return make(fn.external_source(source=lambda: inputs, batch=True, layout=layout))

    p = pipe()
    p.build()
    return p


def dali_ms(inputs: list[np.ndarray], make: Callable, repeats: int, layout: str = "HWC") -> float:
    """Milliseconds per image of ``make`` in a one-thread CPU pipeline."""
    p = pipeline(inputs, layout, make)
    for _ in range(WARMUP):  # a new pipeline's first runs allocate and fault in its buffers
        p.run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        p.run()
        times.append(time.perf_counter() - start)
    del p
    gc.collect()  # the pipeline's threads and buffers go now, not while the next line is timed
    return statistics.median(times) / len(inputs) * 1e3


def python_ms(images: list, call: Callable, repeats: int) -> float:
    """Milliseconds per image of ``call`` on each image, on this thread."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for image in images:
            call(image)
        times.append(time.perf_counter() - start)
    return statistics.median(times) / len(images) * 1e3


def ours(op: Op | None, level: float, bicubic: bool = False) -> Callable:
    """Our operator with one operation per image (None: none, a copy)."""
    def make(images):
        def const(value, dtype):
            return fn.external_source(source=lambda: [np.array([] if op is None else [value], dtype)] * BATCH,
                                      batch=True)
        return apply_ops(images, const(op, np.int32), const(level, np.float32), const(int(bicubic), np.int32),
                         fill=FILL)
    return make


def affine(matrix: Sequence[float]) -> Callable:
    return lambda x: fn.warp_affine(x, matrix=list(matrix), fill_value=128, interp_type=types.INTERP_LINEAR,
                                    inverse_map=True)


def pil_affine(matrix: Sequence[float], resample) -> Callable:
    return lambda im: im.transform(im.size, Image.Transform.AFFINE, matrix, resample, fillcolor=FILL)


def solarize_add(image: Image.Image) -> Image.Image:
    return image.point([min(255, i + 77) if i < 128 else i for i in range(256)] * 3)


def hue(image: Image.Image) -> Image.Image:
    """torchvision's adjust_hue on a PIL image (factor 0.2)."""
    h, s, v = image.convert("HSV").split()
    shifted = (np.asarray(h, np.uint8) + np.uint8(51)).astype(np.uint8)
    return Image.merge("HSV", (Image.fromarray(shifted, "L"), s, v)).convert("RGB")


# (operation, ours, DALI's CPU operator or None, the Pillow call timm's / torchvision's workers make);
# magnitudes as RandAugment's m9 gives them (rotate 27 degrees, shear 0.27, translate 0.405).
CASES: list[tuple[str, Callable, DaliOp, Callable]] = [
    ("invert", ours(Op.INVERT, 9), None, ImageOps.invert),
    ("posterize", ours(Op.POSTERIZE_INCREASING, 9), None, lambda im: ImageOps.posterize(im, 1)),
    ("solarize", ours(Op.SOLARIZE_INCREASING, 9), None, lambda im: ImageOps.solarize(im, 26)),
    ("solarize_add", ours(Op.SOLARIZE_ADD, 7), None, solarize_add),
    ("autocontrast", ours(Op.AUTO_CONTRAST, 9), None, ImageOps.autocontrast),
    ("equalize", ours(Op.EQUALIZE, 9), None, ImageOps.equalize),
    ("brightness", ours(Op.BRIGHTNESS_INCREASING, 9), lambda x: fn.brightness_contrast(x, brightness=1.81),
     lambda im: ImageEnhance.Brightness(im).enhance(1.81)),
    ("contrast", ours(Op.CONTRAST_INCREASING, 9), lambda x: fn.brightness_contrast(x, contrast=1.81),
     lambda im: ImageEnhance.Contrast(im).enhance(1.81)),
    ("color", ours(Op.COLOR_INCREASING, 9), lambda x: fn.color_twist(x, saturation=1.81),
     lambda im: ImageEnhance.Color(im).enhance(1.81)),
    ("sharpness", ours(Op.SHARPNESS_INCREASING, 9), None, lambda im: ImageEnhance.Sharpness(im).enhance(1.81)),
    ("hue (colour jitter)", ours(Op.HUE, 0.2), lambda x: fn.hsv(x, hue=72.0), hue),
    ("rotate, bilinear", ours(Op.ROTATE, 9),
     lambda x: fn.rotate(x, angle=27, keep_size=True, fill_value=128, interp_type=types.INTERP_LINEAR),
     lambda im: im.rotate(27, BILINEAR, fillcolor=FILL)),
    ("rotate, bicubic", ours(Op.ROTATE, 9, True), None, lambda im: im.rotate(27, BICUBIC, fillcolor=FILL)),
    ("shear_x, bilinear", ours(Op.SHEAR_X, 9), affine([1, 0.27, 0, 0, 1, 0]),
     pil_affine((1, 0.27, 0, 0, 1, 0), BILINEAR)),
    ("shear_x, bicubic", ours(Op.SHEAR_X, 9, True), None, pil_affine((1, 0.27, 0, 0, 1, 0), BICUBIC)),
    ("translate_x, bilinear", ours(Op.TRANSLATE_X_REL, 9), affine([1, 0, 90.7, 0, 1, 0]),
     pil_affine((1, 0, 90.7, 0, 1, 0), BILINEAR)),
]


def erasing_rows(images: list[np.ndarray], repeats: int) -> list[tuple[str, float, float, float]]:
    """Random erasing of normalized float32 CHW images, every image erased (chance 1): ours
    against DALI's fn.erase (one 90 x 90 box of zeros) and timm's RandomErasing in torch; the
    DALI lines net of feeding the floats."""
    from timm.data.random_erasing import RandomErasing  # the bench extra's optional timm

    floats = [np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32) / 255 for image in images]
    feed = dali_ms(floats, lambda x: x, repeats, layout="CHW")
    rows = []
    for mode in ("const", "pixel"):
        erasing = Erasing(prob=1.0, mode=mode, count=1)
        mine = dali_ms(floats, lambda x, e=erasing: random_erasing(x, e, layout="CHW"), repeats, "CHW") - feed
        theirs = math.nan
        if mode == "const":
            theirs = dali_ms(floats, lambda x: fn.erase(x, anchor=fn.random.uniform(range=[0, 100], shape=[2]),
                                                        shape=[90.0, 90.0], axis_names="HW", fill_value=0.0),
                             repeats, "CHW") - feed
        timm = RandomErasing(1.0, mode=mode, device="cpu")
        rows.append((f"random erasing, {mode}", mine, theirs,
                     python_ms([torch.from_numpy(f.copy()) for f in floats], timm, repeats)))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per line (default: %(default)s)")
    parser.add_argument("--cache", type=Path, default=default_cache_dir(), help="where the built-in set is cached")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    images = crops(ensure_dataset(FULL_DATA, cache_dir=args.cache), BATCH)
    pil = [Image.fromarray(image) for image in images]
    feed = dali_ms(images, lambda x: x, args.repeats)
    copy = dali_ms(images, fn.copy, args.repeats) - feed
    print(f"224 x 224 RGB, one thread, ms per image (DALI lines net of feeding the images; "
          f"a plain copy: {copy:.3f} ms)\n")
    print("| operation | ours | DALI's CPU operator | Pillow (timm's / torchvision's workers) | DALI / ours | Pillow / ours |")
    print("|---|---:|---:|---:|---:|---:|")

    def line(name: str, mine: float, dali: float, reference: float) -> None:
        def ms(v: float) -> str:
            return "-" if math.isnan(v) else f"{v:.3f}"

        def ratio(v: float) -> str:
            return "-" if math.isnan(v) else f"{v / mine:.1f}x"
        print(f"| {name} | {ms(mine)} | {ms(dali)} | {ms(reference)} | {ratio(dali)} | {ratio(reference)} |")

    for name, mine, dali, reference in CASES:
        ours_ms = dali_ms(images, mine, args.repeats) - feed
        dali_ms_ = dali_ms(images, dali, args.repeats) - feed if dali else math.nan
        line(name, ours_ms, dali_ms_, python_ms(pil, reference, args.repeats))
    try:
        for row in erasing_rows(images, args.repeats):
            line(*row)
    except ImportError:
        print("\n(random erasing: timm is not installed, the line is left out)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

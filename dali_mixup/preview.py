"""``dali-mixup preview``: a grid of what the training pipeline feeds the model, mixed samples
captioned with their two largest label weights."""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from .config import MixConfig, Mode
from .loader import DALILoader

NAME = "preview"
HELP = "write a PNG grid of mixed training samples, captioned with their label weights"
CAPTION_HEIGHT = 28  # pixels under each image: two lines of Pillow's default font
_PIXELS = {"mean": (0.0, 0.0, 0.0), "std": (1 / 255,) * 3}  # outputs stay 0..255


def caption(weights: np.ndarray, classes: Sequence[str] | None) -> list[str]:
    """Two lines: the two largest weights of a target and their class names (or ids)."""
    top = np.argsort(-weights, kind="stable")[:2]
    return [f"{weights[i]:.2f} {classes[i] if classes else i}" for i in top]


def render_grid(images: np.ndarray, captions: Sequence[Sequence[str]], *, columns: int) -> Image.Image:
    """uint8 (N, S, S, 3) images in rows of ``columns``, each with its caption lines below:
    an RGB image of columns * S by rows * (S + CAPTION_HEIGHT) pixels."""
    n, size = images.shape[0], images.shape[1]
    rows = math.ceil(n / columns)
    grid = Image.new("RGB", (columns * size, rows * (size + CAPTION_HEIGHT)), "white")
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default()
    for i, (image, lines) in enumerate(zip(images, captions)):
        x, y = (i % columns) * size, (i // columns) * (size + CAPTION_HEIGHT)
        grid.paste(Image.fromarray(image), (x, y))
        for k, line in enumerate(lines):
            draw.text((x + 2, y + size + 1 + k * CAPTION_HEIGHT // 2), line, fill="black", font=font)
    return grid


def preview(source, *, mix: MixConfig, num_images: int = 16, image_size: int = 160,
            columns: int | None = None, seed: int = 42, device: str | None = None) -> Image.Image:
    """One batch of ``num_images`` from ``pipelines.train_pipeline(source, mix=mix, ...)``,
    as ``render_grid`` draws it (``columns`` default: a square grid). Shows at most the
    data set's size."""
    from pipelines import open_source, train_pipeline  # pipelines imports this package

    for name, value in (("num_images", num_images), ("columns", columns)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")
    data = open_source(source)
    spec = train_pipeline(data, batch_size=num_images, image_size=image_size, mix=mix,
                          layout="NHWC", seed=seed, device=device, shard_id=0, num_shards=1,
                          **_PIXELS)
    images, targets = next(iter(DALILoader(spec)))
    pixels = images.permute(0, 2, 3, 1).float().clamp(0, 255).round().to(torch.uint8).cpu().numpy()
    captions = [caption(t, data.classes) for t in targets.float().cpu().numpy()]
    return render_grid(pixels, captions, columns=columns or math.ceil(math.sqrt(len(pixels))))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", help="image folder, file list, .tar shard or folder of shards")
    parser.add_argument("--out", required=True, type=Path, help="PNG file to write")
    parser.add_argument("--num-images", type=int, default=16, help="samples in the grid (one batch)")
    parser.add_argument("--columns", type=int, default=None, help="images per row (default: square)")
    parser.add_argument("--image-size", type=int, default=160, help="side of each crop, in pixels")
    # timm's option names
    parser.add_argument("--mixup", type=float, default=0.8, help="Mixup alpha (0: off)")
    parser.add_argument("--cutmix", type=float, default=1.0, help="CutMix alpha (0: off)")
    parser.add_argument("--cutmix-minmax", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                        help="CutMix box side fractions, instead of the alpha")
    parser.add_argument("--mixup-prob", type=float, default=1.0, help="chance of mixing")
    parser.add_argument("--mixup-switch-prob", type=float, default=0.5,
                        help="chance of CutMix when both are on")
    parser.add_argument("--mixup-mode", choices=[m.value for m in Mode], default="batch")
    parser.add_argument("--smoothing", type=float, default=0.1, help="label smoothing")
    parser.add_argument("--num-classes", type=int, default=None,
                        help="default: as many as the data set's class ids")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--device", choices=["cpu", "gpu"], default=None,
                        help="default: the GPU where there is one")


def run(args: argparse.Namespace) -> int:
    from pipelines import open_source

    data = open_source(args.data)
    mix = MixConfig(mixup_alpha=args.mixup, cutmix_alpha=args.cutmix,
                    cutmix_minmax=tuple(args.cutmix_minmax) if args.cutmix_minmax else None,
                    prob=args.mixup_prob, switch_prob=args.mixup_switch_prob, mode=args.mixup_mode,
                    label_smoothing=args.smoothing, num_classes=args.num_classes or data.num_classes)
    grid = preview(data, mix=mix, num_images=args.num_images, image_size=args.image_size,
                   columns=args.columns, seed=args.seed, device=args.device)
    grid.save(args.out, format="PNG")
    print(f"wrote {args.out} ({grid.width} x {grid.height} pixels)")
    return 0

"""``dali-mixup preview``: a grid of what the training pipeline feeds the model, mixed samples
captioned with their two largest label weights; with a recipe (auto-augment, colour jitter,
random erasing), a header line names it and the images show what it did, erased boxes as the
model sees them (the normalized values turned back into pixels)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from .config import MixConfig, Mode
from .loader import DALILoader

NAME = "preview"
HELP = "write a PNG grid of mixed training samples, captioned with their label weights"
CAPTION_HEIGHT = 28  # pixels under each image: two lines of Pillow's default font
HEADER_HEIGHT = 14  # one line of text above the grid, naming the recipe


def caption(weights: np.ndarray, classes: Sequence[str] | None) -> list[str]:
    """Two lines: the two largest weights of a target and their class names (or ids)."""
    top = np.argsort(-weights, kind="stable")[:2]
    return [f"{weights[i]:.2f} {classes[i] if classes else i}" for i in top]


def describe_recipe(options: Mapping[str, Any]) -> str:
    """One line naming the per-image recipe of ``train_pipeline`` ``options`` ("" for none)."""
    parts = []
    if options.get("auto_augment"):
        parts.append(f"auto_augment {options['auto_augment']}")
    if options.get("color_jitter") is not None:
        parts.append(f"color_jitter {options['color_jitter']}")
    if options.get("re_prob"):
        parts.append(f"erasing p={options['re_prob']:g} {options.get('re_mode', 'const')} "
                     f"x{options.get('re_count', 1)}")
    return ", ".join(parts)


def render_grid(images: np.ndarray, captions: Sequence[Sequence[str]], *, columns: int,
                header: str = "") -> Image.Image:
    """uint8 (N, S, S, 3) images in rows of ``columns``, each with its caption lines below,
    under a ``header`` line where one is given: an RGB image of columns * S by
    rows * (S + CAPTION_HEIGHT) pixels, plus HEADER_HEIGHT with a header."""
    n, size = images.shape[0], images.shape[1]
    rows = math.ceil(n / columns)
    top = HEADER_HEIGHT if header else 0
    grid = Image.new("RGB", (columns * size, top + rows * (size + CAPTION_HEIGHT)), "white")
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default()
    if header:
        draw.text((2, 1), header, fill="black", font=font)
    for i, (image, lines) in enumerate(zip(images, captions)):
        x, y = (i % columns) * size, top + (i // columns) * (size + CAPTION_HEIGHT)
        grid.paste(Image.fromarray(image), (x, y))
        for k, line in enumerate(lines):
            draw.text((x + 2, y + size + 1 + k * CAPTION_HEIGHT // 2), line, fill="black", font=font)
    return grid


def preview(source, *, mix: MixConfig, num_images: int = 16, image_size: int = 160,
            columns: int | None = None, seed: int = 42, device: str | None = None,
            recipe: Mapping[str, Any] | None = None) -> Image.Image:
    """One batch of ``num_images`` from ``pipelines.train_pipeline(source, mix=mix, **recipe, ...)``
    (``recipe``: its per-image options, e.g. ``auto_augment``, ``color_jitter``, ``re_prob``,
    ``re_mode``, ``re_count``, ``interpolation``), as ``render_grid`` draws it (``columns``
    default: a square grid), the recipe named in the header. Shows at most the data set's size."""
    from pipelines import IMAGENET_MEAN, IMAGENET_STD, open_source, train_pipeline  # pipelines imports this package

    for name, value in (("num_images", num_images), ("columns", columns)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")
    recipe = dict(recipe or {})
    data = open_source(source)
    spec = train_pipeline(data, batch_size=num_images, image_size=image_size, mix=mix, layout="NHWC",
                          seed=seed, device=device, shard_id=0, num_shards=1, **recipe)
    images, targets = next(iter(DALILoader(spec)))
    # Back to pixels: erasing fills normalized values (0, or normal noise), shown as the model sees them.
    mean = torch.tensor(IMAGENET_MEAN, device=images.device)[:, None, None] * 255
    std = torch.tensor(IMAGENET_STD, device=images.device)[:, None, None] * 255
    pixels = (images.float() * std + mean).permute(0, 2, 3, 1).clamp(0, 255).round().to(torch.uint8).cpu().numpy()
    captions = [caption(t, data.classes) for t in targets.float().cpu().numpy()]
    return render_grid(pixels, captions, columns=columns or math.ceil(math.sqrt(len(pixels))),
                       header=describe_recipe(recipe))


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
    parser.add_argument("--aa", default=None, metavar="POLICY",
                        help="auto-augment policy, e.g. rand-m9-mstd0.5-inc1, original, v0, ta_wide")
    parser.add_argument("--color-jitter", type=float, nargs="+", default=None, metavar="V",
                        help="colour jitter: one value, or brightness contrast saturation [hue]")
    parser.add_argument("--reprob", type=float, default=0.0, help="random erasing chance")
    parser.add_argument("--remode", choices=["const", "rand", "pixel"], default="pixel",
                        help="random erasing fill")
    parser.add_argument("--recount", type=int, default=1, help="random erasing boxes, at most")
    parser.add_argument("--train-interpolation", choices=["bilinear", "bicubic", "random"],
                        default="bilinear", help="the crop's resample (and the policy's)")
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
    jitter = args.color_jitter
    recipe = {"auto_augment": args.aa, "re_prob": args.reprob, "re_mode": args.remode, "re_count": args.recount,
              "interpolation": args.train_interpolation,
              "color_jitter": jitter[0] if jitter and len(jitter) == 1 else (tuple(jitter) if jitter else None)}
    grid = preview(data, mix=mix, num_images=args.num_images, image_size=args.image_size,
                   columns=args.columns, seed=args.seed, device=args.device, recipe=recipe)
    grid.save(args.out, format="PNG")
    print(f"wrote {args.out} ({grid.width} x {grid.height} pixels)")
    return 0

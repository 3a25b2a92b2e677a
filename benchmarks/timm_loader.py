"""Contender 6 of the throughput benchmark: timm's own training loader, built as timm's
``train.py`` builds it with ``--prefetcher`` (its default): ``create_dataset`` over the image
folder, ``create_loader`` with ``FastCollateMixup`` as the ``collate_fn`` (the workers decode,
crop and flip with Pillow and mix uint8 batches as they collate them), and its ``PrefetchLoader``
normalizing to float32 on the training device. The heavy recipe adds timm's RandAugment in the
workers (on the PIL image) and its random erasing, which ``PrefetchLoader`` does after normalizing.

timm's RandAugment asks Pillow to posterize to 0 bits (``PosterizeIncreasing`` at magnitude 10,
which ``mstd0.5`` noise reaches in about 2% of its draws): Pillow up to 12 returns a black image,
Pillow 13 raises. Where it raises, the heavy recipe's posterize returns the black image, as timm
runs with Pillow 12, so that contender 6 runs its recipe unchanged."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import torch

from benchmarks.recipe import (HFLIP, RATIO, SCALE, Batch, DataInfo, Settings, augment_options, first_line,
                               mix_config)
from pipelines import IMAGENET_MEAN, IMAGENET_STD

if TYPE_CHECKING:
    from PIL import Image
    from timm.data import FastCollateMixup

    from dali_mixup import MixConfig


def timm_missing() -> str | None:
    """Why timm's loader cannot run here, or None where it can."""
    if importlib.util.find_spec("timm") is None:
        return "timm is not installed (pip install timm, beside a torchvision built for this torch)"
    try:
        import timm.data  # noqa: F401
    except Exception as error:  # a torchvision built for another torch fails with various errors
        return f"timm does not import here ({first_line(error)})"
    return None


def zero_bits_refused() -> bool:
    """Whether this Pillow refuses to posterize to 0 bits (Pillow 13 does; earlier ones return black)."""
    from PIL import Image, ImageOps

    try:
        ImageOps.posterize(Image.new("L", (1, 1)), 0)
    except ValueError:
        return True
    return False


def posterize_as_pillow_12(img: Image.Image, bits_to_keep: int, **kwargs: object) -> Image.Image:
    """timm's posterize, with 0 bits giving the black image that Pillow up to 12 gives."""
    from timm.data import auto_augment

    if bits_to_keep <= 0:
        return img.point(lambda _: 0)
    return auto_augment.posterize(img, bits_to_keep, **kwargs)


def keep_zero_bit_posterize() -> None:
    """Where Pillow refuses 0 bits, give timm's RandAugment operations ``posterize_as_pillow_12``
    (its operations take their function from ``NAME_TO_OP`` when they are built)."""
    from timm.data import auto_augment

    if zero_bits_refused():
        for name, function in auto_augment.NAME_TO_OP.items():
            if function is auto_augment.posterize:
                auto_augment.NAME_TO_OP[name] = posterize_as_pillow_12


def fast_collate_mixup(config: MixConfig) -> FastCollateMixup:
    """timm's ``FastCollateMixup`` with the very options of ``config`` (the same names)."""
    from timm.data import FastCollateMixup

    return FastCollateMixup(
        mixup_alpha=config.mixup_alpha, cutmix_alpha=config.cutmix_alpha, cutmix_minmax=config.cutmix_minmax,
        prob=config.prob, switch_prob=config.switch_prob, mode=config.mode.value, correct_lam=config.correct_lam,
        label_smoothing=config.label_smoothing, num_classes=config.num_classes)


def timm_loader(data: DataInfo, settings: Settings, *, device: str, recipe: str = "light") -> Iterable[Batch]:
    """timm's training loader over ``data``: our augmentation (random-resized-crop with bilinear
    resizing, flip), with the light recipe no colour jitter, auto-augment or random erasing, with
    the heavy one its ``auto_augment`` and random erasing (``recipe.HEAVY_AUGMENT``); one worker
    per core; its ``--use-multi-epochs-loader`` so that epoch ends do not stall it, as on a data
    set far larger than a run."""
    from timm.data import create_dataset, create_loader

    keep_zero_bit_posterize()
    dataset = create_dataset("", root=str(data.root), split="train", is_training=True)
    augment = {"re_prob": 0.0, "color_jitter": None, "auto_augment": None, "interpolation": "bilinear",
               **augment_options(recipe)}
    return create_loader(
        dataset,
        input_size=(3, settings.image_size, settings.image_size),
        batch_size=settings.batch_size,
        is_training=True,
        use_prefetcher=True,
        scale=SCALE,
        ratio=RATIO,
        hflip=HFLIP,
        **augment,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        num_workers=settings.workers,
        collate_fn=fast_collate_mixup(mix_config(data.num_classes)),
        device=torch.device(device),
        use_multi_epochs_loader=True,
    )


def timm_stream(data: DataInfo, settings: Settings, *, device: str, recipe: str = "light") -> Iterator[Batch]:
    """Endless (normalized float32 images, soft targets) batches of timm's loader on ``device``."""
    loader = timm_loader(data, settings, device=device, recipe=recipe)
    while True:
        yield from loader

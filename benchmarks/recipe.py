"""What every contender of the throughput benchmark shares: the mixing recipe, the light and
heavy augmentation recipes and their targets, the settings, the data set, the contender record
and the record of one that cannot run here."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from dali_mixup import MixConfig

Batch = tuple[torch.Tensor, torch.Tensor]
Mixer = Callable[[torch.Tensor, torch.Tensor], Batch]  # (images, class ids) -> (images, soft targets)

# The mixing recipe every contender runs: torchvision's reference recipe, timm's switch.
MIXUP_ALPHA = 0.8
CUTMIX_ALPHA = 1.0
# No label smoothing: torchvision's recipe smooths in the loss, so outputs stay alike.
LABEL_SMOOTHING = 0.0
# The augmentation every contender runs: train_pipeline's defaults (random-resized-crop
# scale and ratio, horizontal flip chance), torchvision's and timm's too.
SCALE = (0.08, 1.0)
RATIO = (3 / 4, 4 / 3)
HFLIP = 0.5
REFERENCE = "dataloader-mix"  # the DataLoader recipe: every contender's ratio is taken against it
OURS = "dali-mix"  # and against ours, with mixing
CEILING = "decode-only"  # reading and decoding the crop window only: a reference line, not a contender
QUIET_SHARE = 0.1  # a round where other processes took more of the CPU is flagged (and, by default, redone)
TARGETS = (  # (numerator, denominator, minimum ratio), on a machine without a GPU
    ("dali-mix", "dataloader-mix", 3.0),
    ("dali-mix", "dali-nomix", 0.97),
    ("dali-mix", CEILING, 0.70),  # the share of the decode-only rate that ours keeps
)
GPU_TARGETS = (  # with a GPU: ours on it against the DataLoader mixing there, and mixing's cost
    ("dali-mix", "dataloader-gpumix", 3.0),
    ("dali-mix", "dali-nomix", 0.99),
)

# ``--recipe``: "light" is the augmentation above (crop, flip, mixing); "heavy" is timm's
# ConvNeXt/DeiT-style training input, which adds RandAugment and random erasing to it.
RECIPES = ("light", "heavy")
AUTO_AUGMENT = "rand-m9-mstd0.5-inc1"  # timm's RandAugment: 2 operations, magnitude 9 (noise std 0.5)
RAND_NUM_OPS, RAND_MAGNITUDE = 2, 9  # the same policy as torchvision's RandAugment arguments
RE_PROB = 0.25  # random erasing's chance per image
# The heavy recipe's options in train_pipeline's names, which are timm's create_loader's too:
# per-pixel normal noise in one erased box (timm train.py's default mode), no colour jitter
# (timm turns it off beside RandAugment).
HEAVY_AUGMENT = {"auto_augment": AUTO_AUGMENT, "re_prob": RE_PROB, "re_mode": "pixel", "re_count": 1,
                 "color_jitter": None, "interpolation": "bilinear"}
LIGHT = "dali-light"  # in a heavy run: ours with the light recipe, what the heavy one costs
HEAVY_TARGETS = (  # CPU or GPU: ours against the DataLoader's heavy recipe, and what RandAugment and erasing cost
    ("dali-mix", "dataloader-mix", 2.0),
    ("dali-mix", LIGHT, 0.75),
)


def augment_options(recipe: str) -> dict[str, object]:
    """The options ``recipe`` adds to ``train_pipeline``'s (and timm's) light defaults: none for "light"."""
    return dict(HEAVY_AUGMENT) if recipe == "heavy" else {}


def recipe_targets(recipe: str, *, gpu: bool) -> tuple[tuple[str, str, float], ...]:
    """(numerator, denominator, minimum ratio) of the run: the heavy recipe's, or the light one's
    for this machine (with or without a GPU)."""
    if recipe == "heavy":
        return HEAVY_TARGETS
    return GPU_TARGETS if gpu else TARGETS


def mix_config(num_classes: int) -> MixConfig:
    """Contender 1's mixing options, in timm's names: Mixup or CutMix (even odds) on every
    batch, one lam per batch, CutMix's lam corrected to the clipped box."""
    from dali_mixup import MixConfig

    return MixConfig(mixup_alpha=MIXUP_ALPHA, cutmix_alpha=CUTMIX_ALPHA, label_smoothing=LABEL_SMOOTHING,
                     num_classes=num_classes)


def first_line(error: BaseException) -> str:
    """An error's type and the start of its message's first line, for a one-line reason."""
    return f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[0][:160]}"


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
    ceiling: bool = False  # a reference line (no output check, no ratio target), not a contender
    options: str = ""  # the augmentation it runs, in its library's terms (listed in a heavy run's report)


@dataclass(frozen=True)
class Skipped:
    """A contender this machine cannot run, and why (its library is missing or cannot load)."""

    key: str
    number: int
    label: str
    reason: str

"""What every contender of the throughput benchmark shares: the mixing recipe, the settings,
the data set, the contender record and the record of one that cannot run here."""

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


@dataclass(frozen=True)
class Skipped:
    """A contender this machine cannot run, and why (its library is missing or cannot load)."""

    key: str
    number: int
    label: str
    reason: str

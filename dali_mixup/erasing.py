"""timm's RandomErasing inside a DALI graph, on the normalized float batch the mixing stage
outputs (where timm's train.py applies it: in its PrefetchLoader, after mixing).

Per image, with probability ``prob``: ``count`` boxes drawn from 1..``count`` (timm's
``max_count``); for each, up to 10 tries at an area of U(0.02, 1/3) of the image divided by
the count and an aspect (height / width) of exp(U(log 0.3, log 1/0.3)); the first box that fits
is filled with zeros ("const"), a normal value per channel ("rand") or a normal value per
element ("pixel"). Every draw is one of DALI's seeded random operators; the stage's operator
``fn.dali_mixup_erase`` (``csrc/operators/erase_op.*``) places and fills the boxes.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Literal, get_args

from nvidia.dali import fn, types
from nvidia.dali.data_node import DataNode

from . import native
from .config import check_fraction

EraseMode = Literal["const", "rand", "pixel"]
MODES: tuple[str, ...] = get_args(EraseMode)
# timm's tries per box, and the uniforms each try takes (area, log-aspect, top, left).
ATTEMPTS = 10
DRAWS_PER_ATTEMPT = 4


@dataclass(frozen=True, kw_only=True)
class Erasing:
    """timm's random erasing options, with the defaults of timm's train.py (``--reprob 0``:
    off, ``--remode pixel``, ``--recount 1``).

    ``prob`` (``re_prob``): chance that an image is erased. ``mode`` (``re_mode``): what fills
    a box, "const" (0), "rand" (a normal value per channel and box) or "pixel" (a normal value
    per element). ``count`` (``re_count``): most boxes per image; each image takes 1..count
    of them, uniformly.
    """

    prob: float = 0.0
    mode: EraseMode = "pixel"
    count: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "prob", check_fraction("re_prob", self.prob))
        if not isinstance(self.mode, str) or self.mode not in MODES:
            raise ValueError(f"re_mode: expected one of {', '.join(map(repr, MODES))}, got {self.mode!r}")
        if isinstance(self.count, bool) or not isinstance(self.count, numbers.Integral) or self.count < 1:
            raise ValueError(f"re_count: expected an integer >= 1, got {self.count!r}")
        object.__setattr__(self, "count", int(self.count))


def _check_device(device: str) -> None:
    if not native.available(device):
        raise RuntimeError(f"random_erasing: the stage's {device.upper()} operators are unavailable (see the "
                           f"warning above for why), and random erasing has no other implementation")


def _noise_key() -> DataNode:
    """A 31-bit int32 per sample: two draws, as one float32 draw holds only 24 bits."""
    high = fn.random.uniform(range=[0, 32767], dtype=types.INT32)
    low = fn.random.uniform(range=[0, 65535], dtype=types.INT32)
    return high * 65536 + low


def _count(erasing: Erasing) -> DataNode:
    """Boxes per image (int32 per sample): 0 where the image is not erased, else 1..count."""
    erased = fn.random.coin_flip(probability=erasing.prob, dtype=types.INT32)
    if erasing.count == 1:
        return erased
    boxes = fn.random.uniform(values=[float(k) for k in range(1, erasing.count + 1)], dtype=types.INT32)
    return erased * boxes


def random_erasing(images: DataNode, erasing: Erasing, *, layout: Literal["HWC", "CHW"]) -> DataNode:
    """Erase boxes of ``images`` as timm's ``RandomErasing`` (see the module's docstring).

    ``images``: float32 or float16, 3-D in ``layout`` ("HWC" or "CHW"), any shape per sample,
    on the CPU or the GPU (the stage's operator for that device must be available, else
    RuntimeError). Returns a DataNode of the same shapes, type and layout on the same device;
    ``images`` itself where ``erasing.prob`` is 0. The draws, per sample, are CPU nodes: the
    count (int32 scalar), the uniforms (float32 (count, 10, 4)) and the noise key (int32 scalar).
    """
    if not isinstance(erasing, Erasing):
        raise ValueError(f"random_erasing: erasing: expected an Erasing, got {erasing!r}")
    if layout not in ("HWC", "CHW"):
        raise ValueError(f"random_erasing: layout: expected 'HWC' or 'CHW', got {layout!r}")
    if erasing.prob == 0:
        return images
    _check_device(images.device)
    draws = fn.random.uniform(range=[0.0, 1.0], shape=[erasing.count, ATTEMPTS, DRAWS_PER_ATTEMPT])
    return fn.dali_mixup_erase(images, _count(erasing), draws, _noise_key(), layout=layout,
                               mode=MODES.index(erasing.mode), device=images.device)

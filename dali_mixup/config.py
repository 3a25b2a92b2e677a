"""The mixing options: one frozen, validated object with timm's names and meanings."""

from __future__ import annotations

import enum
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np


_FLOAT32_TINY = float(np.finfo(np.float32).tiny)
_FLOAT32_MAX = float(np.finfo(np.float32).max)


Layout = Literal["HWC", "CHW"]


class Mode(str, enum.Enum):
    """How mixing parameters are shared across a batch."""

    BATCH = "batch"  # one lam, one box, one mixup-or-cutmix choice per batch
    PAIR = "pair"  # samples i and B-1-i mix each other with a shared lam and box
    ELEM = "elem"  # a lam, box and choice per sample


def check_fraction(name: str, value: object) -> float:
    """``value`` as a float if it is a real number in [0, 1], else ValueError naming ``name``."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value)
            or not 0 <= value <= 1):
        raise ValueError(f"{name}: expected a number in [0, 1], got {value!r}")
    return float(value)


def _fail(field: str, expected: str, value: object) -> None:
    raise ValueError(f"MixConfig.{field}: expected {expected}, got {value!r}")


def _require_real(field: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        _fail(field, "a finite number", value)
    return float(value)


@dataclass(frozen=True, kw_only=True)
class MixConfig:
    """Mixup/CutMix options, named and defaulted as timm's ``Mixup``.

    ``mixup_alpha``/``cutmix_alpha``: Beta(alpha, alpha) concentration, 0 disables that kind.
    ``cutmix_minmax``: (lo, hi) box side fractions; when set, the box is drawn from it
    instead of from ``cutmix_alpha``'s lam, and lam always follows the box area.
    ``prob``: chance that mixing applies (per batch, pair or sample, following ``mode``).
    ``switch_prob``: chance of CutMix rather than Mixup when both are on (``mixup_alpha`` > 0
    and ``cutmix_alpha`` > 0 or ``cutmix_minmax`` set).
    ``correct_lam``: recompute CutMix's lam from the clipped box's area.
    ``label_smoothing``: s; targets use off = s / C and on = 1 - s + s / C.
    """

    mixup_alpha: float = 1.0
    cutmix_alpha: float = 0.0
    cutmix_minmax: tuple[float, float] | None = None
    prob: float = 1.0
    switch_prob: float = 0.5
    mode: Mode = Mode.BATCH
    correct_lam: bool = True
    label_smoothing: float = 0.1
    num_classes: int = 1000

    def __post_init__(self) -> None:
        for field in ("mixup_alpha", "cutmix_alpha"):
            alpha = _require_real(field, getattr(self, field))
            # DALI draws Beta(alpha, alpha) in float32: a positive alpha must be one it holds.
            if alpha < 0 or (alpha != 0 and not _FLOAT32_TINY <= alpha <= _FLOAT32_MAX):
                _fail(field, f"0 or a number in [{_FLOAT32_TINY:.3g}, {_FLOAT32_MAX:.3g}]",
                      getattr(self, field))
        if self.cutmix_minmax is not None:
            mm = self.cutmix_minmax
            if (
                not isinstance(mm, (tuple, list))
                or len(mm) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in mm)
                or not 0 < mm[0] < mm[1] <= 1
            ):
                _fail("cutmix_minmax", "None or a pair (lo, hi) with 0 < lo < hi <= 1", mm)
            object.__setattr__(self, "cutmix_minmax", (float(mm[0]), float(mm[1])))
        if self.mixup_alpha == 0 and self.cutmix_alpha == 0 and self.cutmix_minmax is None:
            raise ValueError(
                "MixConfig: mixup_alpha and cutmix_alpha are both 0 and cutmix_minmax is None: "
                "expected at least one of them to enable mixing"
            )
        for field in ("prob", "switch_prob"):
            if not 0 <= _require_real(field, getattr(self, field)) <= 1:
                _fail(field, "a number in [0, 1]", getattr(self, field))
        if not 0 <= _require_real("label_smoothing", self.label_smoothing) < 1:
            _fail("label_smoothing", "a number in [0, 1)", self.label_smoothing)
        if isinstance(self.num_classes, bool) or not isinstance(self.num_classes, int) or self.num_classes < 1:
            _fail("num_classes", "an integer >= 1", self.num_classes)
        try:
            object.__setattr__(self, "mode", Mode(self.mode))
        except ValueError:
            _fail("mode", f"one of {[m.value for m in Mode]}", self.mode)
        if not isinstance(self.correct_lam, bool):
            _fail("correct_lam", "a bool", self.correct_lam)

    # Not timm's ``Mixup.mixup_enabled`` (its on/off switch): switching off here is
    # ``mix(prob=...)`` or ``DALILoader(mixup_off_epoch=...)``.
    @property
    def uses_mixup(self) -> bool:
        return self.mixup_alpha > 0

    @property
    def uses_cutmix(self) -> bool:
        return self.cutmix_alpha > 0 or self.cutmix_minmax is not None

    @property
    def off_value(self) -> float:
        return self.label_smoothing / self.num_classes

    @property
    def on_value(self) -> float:
        return 1.0 - self.label_smoothing + self.off_value


def _channel_values(field: str, value: object, *, positive: bool) -> tuple[float, ...]:
    """A non-empty sequence or 1-D array of finite reals (numpy scalars too), as floats."""
    if isinstance(value, np.ndarray) and value.ndim == 1:
        value = value.tolist()
    ok = (isinstance(value, Sequence) and not isinstance(value, str) and len(value) > 0
          and all(isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))
                  and math.isfinite(v) and (v > 0 or not positive) for v in value))
    if not ok:
        _fail_normalize(field, f"a non-empty sequence of finite{' positive' if positive else ''} "
                        "numbers, one per channel", value)
    return tuple(float(v) for v in value)


def _fail_normalize(field: str, expected: str, value: object) -> None:
    raise ValueError(f"Normalize.{field}: expected {expected}, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class Normalize:
    """Normalization the stage applies on the way out, as ``fn.crop_mirror_normalize``:
    ``out = (x - mean[c]) / std[c]`` per channel, in the images' own units (0..255 for
    uint8), output in ``layout`` (``fn.crop_mirror_normalize``'s default, CHW). On the CPU
    this costs no pass of its own.
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]
    layout: Layout = "CHW"

    def __post_init__(self) -> None:
        object.__setattr__(self, "mean", _channel_values("mean", self.mean, positive=False))
        object.__setattr__(self, "std", _channel_values("std", self.std, positive=True))
        if len(self.mean) != len(self.std):
            _fail_normalize("std", f"{len(self.mean)} values, as many as mean", self.std)
        if self.layout not in ("HWC", "CHW"):
            _fail_normalize("layout", "'HWC' or 'CHW'", self.layout)

    @property
    def arguments(self) -> dict[str, object]:
        """``mean``, ``std`` and ``output_layout`` as ``fn.crop_mirror_normalize`` (and the
        stage's operators) take them."""
        return {"mean": list(self.mean), "std": list(self.std), "output_layout": self.layout}

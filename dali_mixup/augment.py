"""Per-image augmentation inside a DALI graph, with timm's names: an auto-augment policy
(``policy.parse_auto_augment``) or torchvision's ``ColorJitter`` as timm applies it.

Every random choice is a draw of DALI's seeded random operators (so seeds, checkpoints and exact
resume hold); the stage's CPU operator (``augment_ops.apply_ops``) applies the drawn operations to
uint8 HWC images, as Pillow does.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from nvidia.dali import fn, types
from nvidia.dali import math as dmath
from nvidia.dali.data_node import DataNode

from .augment_ops import Op, apply_ops
from .policy import (LEVEL_DENOM, SIGNED, TRIVIAL_BINS, TRIVIAL_OPS, AutoAugment, Policy, RandAugment,
                     TrivialAugment, trivial_parameter)
from .resample import Interpolation, check_interpolation

_FACTOR_OPS = (Op.BRIGHTNESS_FACTOR, Op.COLOR_FACTOR, Op.CONTRAST_FACTOR, Op.SHARPNESS_FACTOR)


@dataclass(frozen=True)
class ColorJitter:
    """torchvision's ``ColorJitter(brightness, contrast, saturation, hue)`` as timm builds it:
    each factor drawn uniformly from [max(0, 1 - v), 1 + v] (hue: [-v, v]), a component with
    v = 0 left out, the four applied in a random order."""

    brightness: float
    contrast: float
    saturation: float
    hue: float = 0.0

    @classmethod
    def from_timm(cls, value: object) -> ColorJitter:
        """timm's ``color_jitter``: a float (brightness, contrast and saturation; no hue) or a
        3- or 4-tuple; ValueError naming ``color_jitter`` otherwise."""
        def number(v: object) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0

        if number(value):
            return cls(float(value), float(value), float(value))
        if isinstance(value, Sequence) and not isinstance(value, str) and len(value) in (3, 4) \
                and all(map(number, value)):
            if len(value) == 4 and value[3] > 0.5:
                raise ValueError(f"color_jitter: the hue (4th value) must be in [0, 0.5], got {value[3]!r}")
            return cls(*map(float, value))
        raise ValueError("color_jitter: expected a float >= 0 or a tuple of 3 (brightness, contrast, saturation) "
                         f"or 4 (and hue) floats >= 0, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class Augmentation:
    """What ``augment`` does to each image: ``policy`` (None: none) or ``jitter`` (None: none);
    the policy's geometric operations resample with ``interpolation`` ("random": bilinear or
    bicubic per operation, as timm's default) and fill with ``fill`` (timm's ``img_mean``: the
    normalization mean in 0..255); ``translate_const``: timm's absolute translation at magnitude
    10, ``int(0.45 * image_size)``."""

    policy: Policy | None = None
    jitter: ColorJitter | None = None
    interpolation: Interpolation = "random"
    fill: tuple[int, ...] = (128, 128, 128)
    translate_const: int = 100

    def __post_init__(self) -> None:
        check_interpolation(self.interpolation)
        if self.policy is not None and self.jitter is not None:
            raise ValueError("color_jitter: timm applies no colour jitter together with an auto_augment policy; "
                             "give one of the two")

    @property
    def active(self) -> bool:
        return self.policy is not None or self.jitter is not None


def timm_fill(mean: Sequence[float]) -> tuple[int, ...]:
    """timm's fill colour for a normalization ``mean`` in 0..1: ``min(255, round(255 * m))``."""
    return tuple(min(255, round(255 * m)) for m in mean)


def _filters(interpolation: Interpolation, count: int) -> DataNode:
    """int32 (count,) per sample: 0 bilinear, 1 bicubic; "random" draws each, as timm's
    ``_interpolation`` does per operation."""
    chance = {"random": 0.5, "bilinear": 0.0, "bicubic": 1.0}[interpolation]
    return fn.random.coin_flip(probability=chance, shape=[count], dtype=types.INT32)


def _signs(count: int) -> DataNode:
    """float32 (count,) per sample of -1 or +1, each with chance 1/2 (timm's _randomly_negate)."""
    return fn.random.coin_flip(probability=0.5, shape=[count], dtype=types.INT32) * 2.0 - 1.0


def _table(keys: DataNode, values: Sequence[float], dtype: types.DALIDataType) -> DataNode:
    return fn.lookup_table(keys, keys=list(range(len(values))), values=list(values), dtype=dtype)


def _noisy(magnitude: DataNode | float, std: float, count: int, upper: float) -> DataNode:
    """timm's magnitude noise: normal around ``magnitude`` with ``std`` (inf: uniform in
    [0, magnitude]), clipped to [0, upper]; float32 (count,)."""
    if std == 0:
        drawn = magnitude if isinstance(magnitude, DataNode) else fn.constant(fdata=[magnitude] * count,
                                                                               shape=[count])
    elif math.isinf(std):
        drawn = fn.random.uniform(range=[0.0, 1.0], shape=[count]) * magnitude
    else:
        drawn = fn.random.normal(shape=[count]) * std + magnitude
    return dmath.clamp(drawn, 0.0, upper)


def _rand_draws(policy: RandAugment, interpolation: Interpolation) -> tuple[DataNode, DataNode, DataNode]:
    n = policy.num_layers
    codes = fn.random.uniform(values=[int(op) for op in policy.ops], shape=[n], dtype=types.INT32)
    apply = fn.random.coin_flip(probability=policy.prob, shape=[n], dtype=types.INT32)
    levels = _noisy(policy.magnitude, policy.magnitude_std, n, policy.magnitude_max) * _signs(n)
    return codes * apply, levels, _filters(interpolation, n)  # code 0: identity


def _auto_draws(policy: AutoAugment, interpolation: Interpolation) -> tuple[DataNode, DataNode, DataNode]:
    subs = policy.sub_policies
    width = max(map(len, subs))
    steps = [sub + ((Op.IDENTITY, 0.0, 0.0),) * (width - len(sub)) for sub in subs]
    flat = [step for sub in steps for step in sub]
    chosen = fn.random.uniform(values=list(range(len(subs))), dtype=types.INT32)
    keys = fn.stack(*[chosen * width + j for j in range(width)])
    codes = _table(keys, [int(op) for op, _, _ in flat], types.INT32)
    chance = _table(keys, [p for _, p, _ in flat], types.FLOAT)
    # timm skips an operation where random() > p.
    apply = fn.cast(fn.random.uniform(range=[0.0, 1.0], shape=[width]) <= chance, dtype=types.INT32)
    magnitudes = _noisy(_table(keys, [m for _, _, m in flat], types.FLOAT), policy.magnitude_std, width,
                        LEVEL_DENOM)
    signed = _table(codes, [float(Op(code) in SIGNED) for code in range(len(Op))], types.FLOAT)
    levels = magnitudes * (1.0 + signed * (_signs(width) - 1.0))
    return codes * apply, levels, _filters(interpolation, width)


def _trivial_draws(interpolation: Interpolation) -> tuple[DataNode, DataNode, DataNode]:
    which = fn.random.uniform(values=list(range(len(TRIVIAL_OPS))), dtype=types.INT32)
    index = fn.random.uniform(values=list(range(TRIVIAL_BINS)), dtype=types.INT32)
    keys = which * TRIVIAL_BINS + index
    magnitude = _table(keys, [trivial_parameter(op, top, i) for op, top, _ in TRIVIAL_OPS
                              for i in range(TRIVIAL_BINS)], types.FLOAT)
    signed = _table(which, [float(s) for _, _, s in TRIVIAL_OPS], types.FLOAT)
    offset = _table(which, [float(op in _FACTOR_OPS) for op, _, _ in TRIVIAL_OPS], types.FLOAT)
    sign = fn.random.coin_flip(probability=0.5, dtype=types.INT32) * 2.0 - 1.0
    level = offset + magnitude * (1.0 + signed * (sign - 1.0))
    code = _table(which, [int(op) for op, _, _ in TRIVIAL_OPS], types.INT32)
    return fn.stack(code), fn.stack(level), _filters(interpolation, 1)


# torchvision's ColorJitter applies its components in the order of torch.randperm(4).
_ORDERS = list(itertools.permutations(range(4)))
_JITTER_OPS = (Op.BRIGHTNESS_FACTOR, Op.CONTRAST_FACTOR, Op.COLOR_FACTOR, Op.HUE)


def _jitter_draws(jitter: ColorJitter) -> tuple[DataNode, DataNode, DataNode]:
    values = (jitter.brightness, jitter.contrast, jitter.saturation, jitter.hue)
    # Each component's range (hue: [-v, v]); one with v = 0 does nothing and is left out.
    ranges = [(max(0.0, 1.0 - v), 1.0 + v) for v in values[:3]] + [(-values[3], values[3])]
    code = [int(op) if v > 0 else int(Op.IDENTITY) for op, v in zip(_JITTER_OPS, values)]
    order = fn.random.uniform(values=list(range(len(_ORDERS))), dtype=types.INT32)
    keys = fn.stack(*[order * 4 + j for j in range(4)])
    components = [k for perm in _ORDERS for k in perm]
    low = _table(keys, [ranges[k][0] for k in components], types.FLOAT)
    span = _table(keys, [ranges[k][1] - ranges[k][0] for k in components], types.FLOAT)
    # Four independent uniforms, one per step: the component at a step gets an independent draw.
    levels = low + span * fn.random.uniform(range=[0.0, 1.0], shape=[4])
    return _table(keys, [code[k] for k in components], types.INT32), levels, _filters("bilinear", 4)


def draws(augmentation: Augmentation) -> tuple[DataNode, DataNode, DataNode]:
    """The per-sample draws of ``augmentation`` (active): CPU (K,) int32 operation codes
    (``augment_ops.Op``; 0 where an operation is not applied), float32 levels (timm's signed
    magnitude for its named operations, the parameter itself for the others) and int32 filters
    (0 bilinear, 1 bicubic)."""
    policy = augmentation.policy
    if isinstance(policy, RandAugment):
        return _rand_draws(policy, augmentation.interpolation)
    if isinstance(policy, AutoAugment):
        return _auto_draws(policy, augmentation.interpolation)
    if isinstance(policy, TrivialAugment):
        return _trivial_draws(augmentation.interpolation)
    return _jitter_draws(augmentation.jitter)


def augment(images: DataNode, augmentation: Augmentation) -> DataNode:
    """Apply ``augmentation`` to every image: ``images`` uint8 HWC (1 or 3 channels), CPU, any
    size per sample; returns the same shapes. Unchanged where the augmentation is inactive."""
    if not augmentation.active or (isinstance(augmentation.policy, RandAugment)
                                   and augmentation.policy.num_layers == 0):
        return images
    ops, levels, filters = draws(augmentation)
    return apply_ops(images, ops, levels, filters, fill=augmentation.fill,
                     translate_const=augmentation.translate_const)


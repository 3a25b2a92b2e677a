"""timm's RandAugment / AutoAugment image operations inside a DALI graph, on the CPU.

``apply_ops`` runs the stage's operator (``fn.dali_mixup_augment``, ``csrc/kernels/augment_cpu.h``):
per sample, a list of op codes (``Op``) applied in order, each with its level and resample
filter, matching Pillow (which timm's ops call) bit for bit on the point, histogram and blend ops
and within one level on the geometric ones (rotate, shear, translate).

Named codes take timm's magnitude level (0..10, may exceed 10) with timm's random sign already
applied, and map it to the op's parameter with timm's level functions; raw codes take the
parameter itself. Levels are float32; the parameter is computed in double from that value.
Where Pillow 13 refuses a parameter, the op follows the older Pillows' arithmetic: posterize with
fewer than 1 bit keeps none (timm's PosterizeIncreasing beyond level 10). Rotations by 90 or 270
degrees of square images and by 180 degrees of any are Pillow's exact transposes, as there.
"""

from __future__ import annotations

import enum
import math
import numbers

from nvidia.dali import fn
from nvidia.dali.data_node import DataNode

from . import native


class Op(enum.IntEnum):
    """Op codes of ``apply_ops``; must match ``csrc/kernels/augment_params.h``."""

    IDENTITY = 0
    AUTO_CONTRAST = 1
    EQUALIZE = 2
    INVERT = 3
    ROTATE = 4
    POSTERIZE = 5
    POSTERIZE_INCREASING = 6
    POSTERIZE_ORIGINAL = 7
    SOLARIZE = 8
    SOLARIZE_INCREASING = 9
    SOLARIZE_ADD = 10
    COLOR = 11
    COLOR_INCREASING = 12
    CONTRAST = 13
    CONTRAST_INCREASING = 14
    BRIGHTNESS = 15
    BRIGHTNESS_INCREASING = 16
    SHARPNESS = 17
    SHARPNESS_INCREASING = 18
    SHEAR_X = 19
    SHEAR_Y = 20
    TRANSLATE_X = 21
    TRANSLATE_Y = 22
    TRANSLATE_X_REL = 23
    TRANSLATE_Y_REL = 24
    # Raw codes: the level is the parameter.
    BRIGHTNESS_FACTOR = 25
    CONTRAST_FACTOR = 26
    COLOR_FACTOR = 27
    SHARPNESS_FACTOR = 28
    HUE = 29
    ROTATE_DEGREES = 30
    SHEAR_X_FACTOR = 31
    SHEAR_Y_FACTOR = 32
    TRANSLATE_X_PIXELS = 33
    TRANSLATE_Y_PIXELS = 34
    POSTERIZE_BITS = 35
    SOLARIZE_THRESHOLD = 36


def _check_node(value: object, name: str) -> DataNode:
    if not isinstance(value, DataNode) or value.device != "cpu":
        raise ValueError(f"augment: {name}: expected a CPU DataNode, got {value!r}")
    return value


def _check_fill(fill: object) -> list[int]:
    ok = (isinstance(fill, (tuple, list)) and len(fill) == 3
          and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and 0 <= v <= 255 for v in fill))
    if not ok:
        raise ValueError(f"augment: fill: expected 3 integers in [0, 255], got {fill!r}")
    return [int(v) for v in fill]


def apply_ops(images: DataNode, ops: DataNode, levels: DataNode, filters: DataNode, *,
              fill: tuple[int, int, int] = (128, 128, 128), translate_const: int = 100,
              translate_pct: float = 0.45) -> DataNode:
    """Apply each sample's ops in order to its image.

    ``images``: CPU uint8 HWC, 1 or 3 channels, any size per sample. ``ops`` (int32 ``Op``
    codes), ``levels`` (float32) and ``filters`` (int32: 0 bilinear, 1 bicubic, the resample of
    geometric ops): CPU 1-D per sample, of one length per sample (0: the image unchanged).
    ``fill``: the colour of pixels outside the source in geometric ops (1-channel images: its
    first value); ``translate_const`` / ``translate_pct``: timm's hparams of TranslateX/Y and
    TranslateX/YRel. Returns uint8 HWC of the images' shapes. Bad inputs fail as the batch runs
    (``MixInputError`` under ``errors.translate_errors``, naming the sample).
    """
    for name, node in (("images", images), ("ops", ops), ("levels", levels), ("filters", filters)):
        _check_node(node, name)
    fill = _check_fill(fill)
    if isinstance(translate_const, bool) or not isinstance(translate_const, numbers.Integral):
        raise ValueError(f"augment: translate_const: expected an integer, got {translate_const!r}")
    if (isinstance(translate_pct, bool) or not isinstance(translate_pct, numbers.Real)
            or not math.isfinite(translate_pct)):
        raise ValueError(f"augment: translate_pct: expected a finite number, got {translate_pct!r}")
    if not native.available("cpu"):
        raise RuntimeError("augment needs the stage's CPU operators, which are unavailable: the native "
                           "library could not be built or loaded, or DALI_MIXUP_FUSED=0 (see the warning)")
    return fn.dali_mixup_augment(images, ops, levels, filters, fill=fill, translate_const=int(translate_const),
                                 translate_pct=repr(float(translate_pct)))

"""The random-resized-crop's resample and flip, and the validation's shorter-side resize, inside
a DALI graph.

On the CPU it is the stage's own operator (``fn.dali_mixup_resize``, ``csrc/kernels/resample_cpu.h``):
Pillow's ``Image.resize`` with ``BILINEAR`` or ``BICUBIC``, bit for bit on RGB and grayscale
images (antialiased when shrinking, as torchvision's ``antialias=True``; other channel counts
channel by channel), the flip riding on the same pass. Elsewhere (GPU
images, or the operator not built) DALI's ``fn.resize_crop_mirror`` (antialiased too; its
roundings differ from Pillow's).
"""

from __future__ import annotations

from typing import Literal, get_args

from nvidia.dali import fn, types
from nvidia.dali import math as dmath
from nvidia.dali.data_node import DataNode

from . import native

Interpolation = Literal["bilinear", "bicubic", "random"]
INTERPOLATIONS: tuple[str, ...] = get_args(Interpolation)
FixedInterpolation = Literal["bilinear", "bicubic"]  # one filter for every image
FIXED_INTERPOLATIONS: tuple[str, ...] = get_args(FixedInterpolation)


def check_interpolation(value: object, allowed: tuple[str, ...] = INTERPOLATIONS) -> Interpolation:
    """``value`` if it is one of ``allowed`` (timm's interpolation names we resample with), else
    ValueError naming ``interpolation``."""
    if value not in allowed:
        raise ValueError(f"interpolation: expected one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value  # type: ignore[return-value]


def _dali_interp(interpolation: FixedInterpolation) -> types.DALIInterpType:
    return types.INTERP_CUBIC if interpolation == "bicubic" else types.INTERP_LINEAR


def _check_size(size: object) -> tuple[int, int] | DataNode:
    if isinstance(size, DataNode):
        if size.device != "cpu":
            raise ValueError("resize: size: expected (height, width) or a CPU DataNode, got a "
                             f"{size.device} DataNode")
        return size
    ok = (isinstance(size, (tuple, list)) and len(size) == 2
          and all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in size))
    if not ok:
        raise ValueError(f"resize: size: expected (height, width), integers >= 1, or a CPU DataNode, "
                         f"got {size!r}")
    return int(size[0]), int(size[1])


def resize(images: DataNode, *, size: tuple[int, int] | DataNode,
           interpolation: Interpolation = "bilinear", mirror: DataNode | None = None) -> DataNode:
    """Resample every image to ``size`` (height, width), flipping horizontally where ``mirror``
    (CPU int scalar per sample, nonzero: flip; None: never) says.

    ``images``: uint8 HWC, any size per sample, CPU or GPU. ``size``: one (height, width) for
    the batch, or a CPU DataNode with each sample's own: integers (2,) per sample, (height,
    width), both >= 1 (checked as the batch runs: ``MixInputError`` naming the sample).
    ``interpolation``: "bilinear", "bicubic", or "random" (either, with equal chance, per sample:
    timm's "random"). Returns uint8 HWC (height, width, C) on the images' device.
    """
    size = _check_size(size)
    check_interpolation(interpolation)
    if mirror is not None and (not isinstance(mirror, DataNode) or mirror.device != "cpu"):
        raise ValueError("resize: mirror: expected None or a CPU DataNode (an integer per sample)")
    bicubic = (fn.random.coin_flip(probability=0.5, dtype=types.INT32) if interpolation == "random"
               else int(interpolation == "bicubic"))
    flip = 0 if mirror is None else fn.cast(mirror, dtype=types.INT32)
    if images.device == "cpu" and native.available("cpu"):
        sizes = fn.cast(size, dtype=types.INT32) if isinstance(size, DataNode) else size
        return fn.dali_mixup_resize(images, size=sizes, filter=bicubic, mirror=flip)
    if interpolation == "random":  # DALI's codes: INTERP_LINEAR 1, INTERP_CUBIC 2
        interp = fn.cast(bicubic + 1, dtype=types.INTERP_TYPE)
    else:
        interp = _dali_interp(interpolation)
    sizes = fn.cast(size, dtype=types.FLOAT) if isinstance(size, DataNode) else size
    return fn.resize_crop_mirror(images, size=sizes, interp_type=interp, mirror=flip)


def shorter_side_sizes(shapes: DataNode, shorter: int) -> DataNode:
    """Each image's (height, width) once its shorter side is resized to ``shorter``, as
    torchvision's ``Resize(shorter)`` computes it: the shorter side ``shorter``, the longer
    ``int(shorter * long / short)`` (Python's float64 division, then truncation). ``shapes``:
    CPU integers (height, width, ...) per sample, as ``images.shape()`` of HWC images gives. Returns
    a CPU int32 (2,) per sample."""
    shapes = fn.cast(shapes, dtype=types.INT64)
    short = fn.cast(dmath.min(shapes[0], shapes[1]), dtype=types.FLOAT64)
    # shorter * extent is exact in int64 and float64; the float64 quotient is Python's true
    # division, floored (non-negative: int()'s truncation), and the cast, which rounds, then gets
    # a whole number. The shorter side comes out as shorter * short / short: shorter. (No inner
    # function: DALI's conditionals rewrite the graph's functions, and trip over one.)
    sides = [fn.cast(dmath.floor(fn.cast(shapes[axis] * shorter, dtype=types.FLOAT64) / short), dtype=types.INT32)
             for axis in (0, 1)]
    return fn.stack(*sides)


def resize_shorter(images: DataNode, *, shorter: int, interpolation: FixedInterpolation) -> DataNode:
    """Resize every image's shorter side to ``shorter``, keeping its aspect ratio as
    torchvision's ``Resize(shorter)`` does (``shorter_side_sizes``): timm's eval resize.

    On CPU images, with the stage's operator: Pillow's antialiased ``Image.resize`` to those
    sizes, bit for bit. Elsewhere DALI's ``fn.resize(resize_shorter=...)``, antialiased, whose
    sizes and roundings may differ from torchvision's by a pixel or a level.
    """
    if isinstance(shorter, bool) or not isinstance(shorter, int) or shorter < 1:
        raise ValueError(f"resize_shorter: shorter: expected an integer >= 1, got {shorter!r}")
    check_interpolation(interpolation, FIXED_INTERPOLATIONS)
    if images.device == "cpu" and native.available("cpu"):
        sizes = shorter_side_sizes(images.shape(), shorter)
        return resize(images, size=sizes, interpolation=interpolation)
    return fn.resize(images, resize_shorter=shorter, interp_type=_dali_interp(interpolation), antialias=True)

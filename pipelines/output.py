"""What both pipelines hand out: normalized images in the chosen layout and dtype, and class ids.

``mean``/``std`` are per-channel RGB values on the 0..1 scale, as timm and torchvision give
them: ``out = (pixel / 255 - mean) / std``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from nvidia.dali import fn, types
from nvidia.dali.data_node import DataNode

from dali_mixup import Normalize
from dali_mixup.config import check_fraction

from .spec import Layout

DType = Literal["float32", "float16"]
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_DALI_DTYPES = {"float32": types.FLOAT, "float16": types.FLOAT16}
_LAYOUTS = ("NCHW", "NHWC")


def _triple(name: str, value: object, *, positive: bool) -> tuple[float, float, float]:
    ok = (isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 3
          and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                  and (v > 0 or not positive) for v in value))
    if not ok:
        kind = "positive numbers" if positive else "numbers"
        raise ValueError(f"{name}: expected 3 {kind} (one per RGB channel), got {value!r}")
    return tuple(float(v) for v in value)


def check_image_size(image_size: object) -> int:
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise ValueError(f"image_size: expected an integer >= 1 (pixels), got {image_size!r}")
    return image_size


@dataclass(frozen=True, kw_only=True)
class Output:
    """How images leave a pipeline: normalized with ``mean``/``std``, in ``layout``, as ``dtype``."""

    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    layout: Layout = "NCHW"
    dtype: DType = "float32"

    def __post_init__(self) -> None:
        object.__setattr__(self, "mean", _triple("mean", self.mean, positive=False))
        object.__setattr__(self, "std", _triple("std", self.std, positive=True))
        if not isinstance(self.layout, str) or self.layout not in _LAYOUTS:
            raise ValueError(f"layout: expected 'NCHW' or 'NHWC' (channels-last), got {self.layout!r}")
        if not isinstance(self.dtype, str) or self.dtype not in _DALI_DTYPES:  # a list is unhashable
            raise ValueError(f"dtype: expected 'float32' or 'float16', got {self.dtype!r}")

    @property
    def dali_dtype(self) -> types.DALIDataType:
        return _DALI_DTYPES[self.dtype]

    @property
    def normalization(self) -> Normalize:
        """The normalization on the 0..255 scale of uint8 pixels, in the output's layout."""
        return Normalize(mean=[255.0 * m for m in self.mean], std=[255.0 * s for s in self.std],
                         layout=self.layout[1:])

    def normalize(self, images: DataNode, **crop) -> DataNode:
        """HWC images (uint8 or float, 0..255) to normalized ``layout``/``dtype`` in one
        pass, cropping on the way (``crop=(h, w)`` etc. as ``fn.crop_mirror_normalize``)."""
        return fn.crop_mirror_normalize(images, dtype=self.dali_dtype,
                                        **self.normalization.arguments, **crop)


def class_ids(labels: DataNode, device: str) -> DataNode:
    """int64 scalar class id per sample on ``device``, from a reader's int32 (1,) labels: what
    ``torch.nn.CrossEntropyLoss`` takes as class-index targets."""
    ids = fn.cast(fn.reshape(labels, shape=[]), dtype=types.INT64)
    return ids.gpu() if device == "gpu" else ids


def check_hw_decoder_load(value: object) -> float:
    return check_fraction("hw_decoder_load", value)


def decoder_options(device: str, hw_decoder_load: float) -> dict:
    """Decoder device and arguments: nvImageCodec on the GPU ('mixed', with the share of the
    hardware JPEG decoder) or on the CPU; RGB output, so grayscale and RGBA become RGB."""
    if device == "gpu":
        return {"device": "mixed", "output_type": types.RGB, "hw_decoder_load": hw_decoder_load}
    return {"device": "cpu", "output_type": types.RGB}

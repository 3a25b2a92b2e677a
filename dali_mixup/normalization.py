"""Normalization without mixing, done the way the mixing stage does it, so that a pipeline
with and without mixing spends the same on it."""

from __future__ import annotations

from nvidia.dali import fn, types
from nvidia.dali.data_node import DataNode

from .config import Layout, Normalize
from .stage import uses_operator

_DTYPES = (types.FLOAT, types.FLOAT16)


def normalize(images: DataNode, config: Normalize, *, layout: Layout | None = None,
              dtype: types.DALIDataType = types.FLOAT) -> DataNode:
    """``(x - mean[c]) / std[c]`` per channel, output in ``config.layout`` as ``dtype``, on
    the images' device.

    ``images``: CPU or GPU DataNode, layout HWC or CHW (from the DataNode, or ``layout``),
    uint8, float16 or float32. They go through the stage's operator (the pass of
    ``mix(normalize=...)``, without the mixing) where it is available for their device
    (``stage.uses_operator``), else through ``fn.crop_mirror_normalize``. Wrap the
    pipeline's runs in ``translate_errors()`` for a plain message about a bad batch.
    """
    if not isinstance(config, Normalize):
        raise TypeError(f"normalize: config: expected a Normalize, got {type(config).__name__}")
    if layout not in (None, "HWC", "CHW"):
        raise ValueError(f"normalize: layout: expected None, 'HWC' or 'CHW', got {layout!r}")
    if dtype not in _DTYPES:
        raise ValueError(f"normalize: dtype: expected types.FLOAT or types.FLOAT16, got {dtype!r}")
    if uses_operator(images):
        return fn.dali_mixup_normalize(images, layout=layout or "", dtype=dtype,
                                       device=images.device, **config.arguments)
    if layout is not None:
        images = fn.reshape(images, layout=layout)
    return fn.crop_mirror_normalize(images, dtype=dtype, **config.arguments)

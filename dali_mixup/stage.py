"""The mixing stage: Mixup and CutMix applied to a batch inside a DALI graph.

Images are blended as ``out = x * w + x_partner * (1 - w)`` where the per-pixel weight ``w``
is Mixup's lam, or 0 inside the CutMix box and 1 outside, or 1 where nothing is mixed.
The stage runs on the images' device; parameters are drawn on the CPU (``params.py``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from nvidia.dali import fn, types
from nvidia.dali import math as dmath
from nvidia.dali.data_node import DataNode
from nvidia.dali.pipeline import Pipeline

from .config import MixConfig, Mode
from .errors import Check, guard
from .params import Draw, MixParams, Prob, draw

Layout = Literal["HWC", "CHW"]
_DTYPES = (types.FLOAT, types.FLOAT16)
_LAYOUT_CODES = {name: (ord(name[0]) << 16) | (ord(name[1]) << 8) | ord(name[2]) for name in ("HWC", "CHW")}


def _current_batch_size() -> int:
    pipe = Pipeline.current()
    if pipe is None:
        raise RuntimeError("mix: call it while defining a DALI pipeline (inside @pipeline_def or "
                           "a `with pipe:` block), not outside one")
    return pipe.max_batch_size


def _validate_call(config: object, prob: object, seed: object, layout: object, dtype: object) -> None:
    if not isinstance(config, MixConfig):
        raise TypeError(f"mix: config: expected a MixConfig, got {type(config).__name__}")
    if isinstance(prob, DataNode):
        if prob.device != "cpu":
            raise ValueError("mix: prob: expected a CPU DataNode (one float32 per sample), got a GPU one")
    elif prob is not None and (isinstance(prob, bool) or not isinstance(prob, (int, float))
                               or not 0 <= prob <= 1):
        raise ValueError(f"mix: prob: expected None, a number in [0, 1] or a CPU DataNode, got {prob!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ValueError(f"mix: seed: expected None or an integer >= 0, got {seed!r}")
    if layout is not None and layout not in _LAYOUT_CODES:
        raise ValueError(f"mix: layout: expected None, 'HWC' or 'CHW', got {layout!r}")
    if dtype not in _DTYPES:
        raise ValueError(f"mix: dtype: expected types.FLOAT or types.FLOAT16, got {dtype!r}")


def _first3(vector: DataNode, dtype: types.DALIDataType) -> DataNode:
    """The first three elements of a 1-D vector, zero-padded: reading them can never fail."""
    padded = fn.cat(vector, types.Constant(np.zeros(3), dtype=dtype, device="cpu"))
    return fn.cast(padded[0:3], dtype=types.INT32)


def _image_geometry(images: DataNode, batch_size: int) -> tuple[DataNode, DataNode, DataNode]:
    """Per sample (CPU): image height, width (int32) and a float32 0 token carrying the
    layout and same-shape checks."""
    shape = _first3(images.shape(dtype=types.INT32, device="cpu"), types.INT32)
    chars = _first3(fn.get_property(images, key="layout", device="cpu"), types.UINT8)
    code = (chars[0] << 16) | (chars[1] << 8) | chars[2]
    is_chw = code == _LAYOUT_CODES["CHW"]
    known = is_chw | (code == _LAYOUT_CODES["HWC"])
    chw = fn.cast(is_chw, dtype=types.INT32)
    height = chw * shape[1] + (1 - chw) * shape[0]
    width = chw * shape[2] + (1 - chw) * shape[1]
    differs = fn.reductions.max(fn.cast(shape != fn.permute_batch(shape, indices=[0] * batch_size),
                                        dtype=types.INT32))
    token = guard(known == 0, Check.LAYOUT) + guard(differs, Check.SAME_SHAPE)
    return height, width, token


def _smoothed_targets(labels: DataNode, config: MixConfig) -> tuple[DataNode, DataNode]:
    """float32 (C,) smoothed targets per sample (CPU), from class ids (scalar or (1,)) or
    from soft vectors of length C, and a float32 0 token carrying the label checks."""
    classes = config.num_classes
    flat = fn.cast(fn.reshape(labels, shape=[-1]), dtype=types.FLOAT)
    length = flat.shape(dtype=types.INT32, device="cpu")[0]
    is_id = length == 1
    first = fn.cat(flat, types.Constant(np.zeros(1), dtype=types.FLOAT, device="cpu"))[0]
    one_hot = fn.one_hot(fn.cast(dmath.clamp(first, 0, classes - 1), dtype=types.INT32),
                         num_classes=classes)
    soft = fn.slice(flat, start=[0], shape=[classes], axes=[0], out_of_bounds_policy="pad")
    id_weight = fn.cast(is_id, dtype=types.FLOAT)
    targets = id_weight * one_hot + (1.0 - id_weight) * soft
    if config.label_smoothing > 0:
        targets = targets * (1.0 - config.label_smoothing) + config.off_value
    token = guard(is_id & ((first < 0) | (first >= classes)), Check.LABEL_RANGE,
                  num_classes=classes)
    token = token + guard((length != 1) & (length != classes), Check.SOFT_LABEL_LENGTH,
                          num_classes=classes)
    return targets, token


def _blend_images(images: DataNode, d: Draw, weight: DataNode, box_used: bool, start: DataNode,
                  dtype: types.DALIDataType) -> DataNode:
    """``x * w + x_partner * (1 - w)`` in float32 on the images' device."""
    x = fn.cast(images, dtype=types.FLOAT)  # DALI's CPU arithmetic has no float16
    partner = fn.permute_batch(x, indices=d.gather)
    if box_used:
        # A one-channel plane of the weight, then the box cleared: broadcasts over channels.
        plane = fn.slice(x, start=start, shape=[1], axis_names="C")
        w = fn.erase(dmath.clamp(plane, weight, weight), anchor=d.box_anchor, shape=d.box_shape,
                     axis_names="HW", fill_value=0.0)
    else:
        w = weight
    out = x * w + partner * (1.0 - w)
    return fn.cast(out, dtype=dtype) if dtype != types.FLOAT else out


def mix(images: DataNode, labels: DataNode, config: MixConfig, *, prob: Prob | None = None,
        seed: int | None = None, layout: Layout | None = None,
        dtype: types.DALIDataType = types.FLOAT, return_params: bool = False):
    """Mix a batch with Mixup and/or CutMix as ``config`` says; call it in a pipeline definition.

    ``images``: CPU or GPU DataNode, one shape for the whole batch, layout HWC or CHW (from
    the DataNode, or ``layout``), dtype uint8, float16 or float32.
    ``labels``: CPU DataNode of integer class ids (scalar or shape (1,)) or soft/one-hot
    float vectors of length ``config.num_classes``.
    ``prob``: overrides ``config.prob``; a CPU DataNode (float32 scalar per sample, e.g. an
    ``fn.external_source``) changes it between iterations without rebuilding the pipeline.
    ``seed``: seeds of the stage's random operators (default: derived from the pipeline's).
    Returns ``(images, targets)`` on the images' device: images of ``dtype`` (float32 or
    float16) with the input's layout and shape; targets float32 (num_classes,) per sample,
    ``lam * smooth(y) + (1 - lam) * smooth(y_partner)``. With ``return_params`` also a
    ``MixParams`` of per-sample CPU DataNodes.
    Bad batches (layout, ragged shapes, labels) stop the pipeline; wrap its runs in
    ``translate_errors()`` to get a ``MixInputError`` that says what was wrong.
    """
    _validate_call(config, prob, seed, layout, dtype)
    batch_size = _current_batch_size()
    if layout is not None:
        images = fn.reshape(images, layout=layout)
    height, width, image_token = _image_geometry(images, batch_size)
    targets, label_token = _smoothed_targets(labels, config)
    d = draw(config, batch_size=batch_size, height=height, width=width,
             prob=config.prob if prob is None else prob, seed=seed, with_params=return_params)
    # Adding the checks' zero tokens orders every check before the work it protects.
    token = image_token + label_token
    images = _blend_images(images, d, d.weight + token, config.cutmix_enabled,
                           fn.cast(fn.stack(token), dtype=types.INT32),
                           dtype)
    lam = d.lam + token
    targets = targets * lam + fn.permute_batch(targets, indices=d.gather) * (1.0 - lam)
    if images.device == "gpu":
        targets = targets.gpu()
    return (images, targets, d.params) if return_params else (images, targets)


def mixup(images: DataNode, labels: DataNode, *, alpha: float, num_classes: int,
          prob: Prob = 1.0, mode: Mode | str = Mode.BATCH, label_smoothing: float = 0.1,
          seed: int | None = None, layout: Layout | None = None,
          dtype: types.DALIDataType = types.FLOAT, return_params: bool = False):
    """Mixup only: ``mix`` with ``MixConfig(mixup_alpha=alpha, cutmix_alpha=0, ...)``."""
    config = MixConfig(mixup_alpha=alpha, cutmix_alpha=0.0, mode=mode,
                       label_smoothing=label_smoothing, num_classes=num_classes)
    return mix(images, labels, config, prob=prob, seed=seed, layout=layout, dtype=dtype,
               return_params=return_params)


def cutmix(images: DataNode, labels: DataNode, *, alpha: float, num_classes: int,
           minmax: tuple[float, float] | None = None, correct_lam: bool = True,
           prob: Prob = 1.0, mode: Mode | str = Mode.BATCH, label_smoothing: float = 0.1,
           seed: int | None = None, layout: Layout | None = None,
           dtype: types.DALIDataType = types.FLOAT, return_params: bool = False):
    """CutMix only: ``mix`` with ``MixConfig(mixup_alpha=0, cutmix_alpha=alpha, ...)``."""
    config = MixConfig(mixup_alpha=0.0, cutmix_alpha=alpha, cutmix_minmax=minmax,
                       correct_lam=correct_lam, mode=mode, label_smoothing=label_smoothing,
                       num_classes=num_classes)
    return mix(images, labels, config, prob=prob, seed=seed, layout=layout, dtype=dtype,
               return_params=return_params)

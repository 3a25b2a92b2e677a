"""The mixing stage on DALI's own operators: parameters and checks by DALI arithmetic on the
CPU (``params.py``), CutMix by ``fn.multi_paste``, Mixup by arithmetic on the images' device,
normalization by ``fn.crop_mirror_normalize``. The path of GPU images where the stage's GPU
operator is unavailable, and of CPU images without the CPU operator (``DALI_MIXUP_FUSED=0``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from nvidia.dali import fn, types
from nvidia.dali import math as dmath
from nvidia.dali.data_node import DataNode

from .config import Layout, MixConfig, Mode, Normalize
from .errors import Check, guard
from .params import Draw, MixParams, Prob, draw

try:  # DALI's own test for `if` on DataNodes; private, so a DALI without it just never branches
    from nvidia.dali._conditionals import conditionals_enabled
except ImportError:
    def conditionals_enabled() -> bool:
        return False

_MAX_CHW_CHANNELS = 4  # CutMix pastes the box once per plane of a CHW image
_LAYOUT_CODES = {name: (ord(name[0]) << 16) | (ord(name[1]) << 8) | ord(name[2]) for name in ("HWC", "CHW")}
# Added to a float32 in [0, 2**23) and taken away again, it rounds to an integer, half to even.
_ROUNDING = float(2**23)


def _first3(vector: DataNode, dtype: types.DALIDataType) -> DataNode:
    """The first three elements of a 1-D vector, zero-padded: reading them can never fail."""
    padded = fn.cat(vector, types.Constant(np.zeros(3), dtype=dtype, device="cpu"))
    return fn.cast(padded[0:3], dtype=types.INT32)


@dataclass(frozen=True)
class _Geometry:
    """Per-sample image geometry, CPU DataNodes.

    ``shape``: int32 (3,). ``size``: float64 (2,) (H, W).
    ``rows``: int32 (3,) shape (R, L, 1) of the image seen as one-channel rows, the view in
    which ``fn.multi_paste`` (HWC only) pastes boxes into CHW images or images whose layout
    is read at run time: (H, W * C) for HWC, (C * H, W) for CHW. None for a given HWC.
    ``layout``: as given to ``mix``, None when read at run time.
    ``chw``: 1 for CHW, 0 for HWC: an int when ``layout`` is given, else an int32 scalar.
    ``channels``: int32 scalar, C. ``problem``: int32 scalar, 0 or the ``Check`` that failed.
    """

    shape: DataNode
    size: DataNode
    rows: DataNode | None
    layout: Layout | None
    chw: DataNode | int
    channels: DataNode
    problem: DataNode


def _image_geometry(images: DataNode, layout: Layout | None, batch_size: int) -> _Geometry:
    """The geometry, from ``layout`` when given, else from the images' own layout at run time."""
    if layout is None:
        shape = _first3(images.shape(dtype=types.INT32, device="cpu"), types.INT32)
        chars = _first3(fn.get_property(images, key="layout", device="cpu"), types.UINT8)
        code = (chars[0] << 16) | (chars[1] << 8) | chars[2]
        is_chw = code == _LAYOUT_CODES["CHW"]
        problem = fn.cast(~(is_chw | (code == _LAYOUT_CODES["HWC"])), dtype=types.INT32) * int(Check.LAYOUT)
        chw = fn.cast(is_chw, dtype=types.INT32)
        hw = chw * shape[1:3] + (1 - chw) * shape[0:2]
        channels = chw * shape[0] + (1 - chw) * shape[2]
    else:
        shape = images.shape(dtype=types.INT32, device="cpu")
        chw = int(layout == "CHW")
        hw = shape[1:3] if chw else shape[0:2]
        channels = shape[0] if chw else shape[2]
        problem = None
    differs = shape != fn.permute_batch(shape, indices=[0] * batch_size)
    same_shape = fn.reductions.max(fn.cast(differs, dtype=types.INT32)) * int(Check.SAME_SHAPE)
    problem = same_shape if problem is None else dmath.max(problem, same_shape)
    # Reported only where the layout and shapes are fine: a missing axis also reads as size 0.
    empty = fn.cast((shape[0] * shape[1] * shape[2] == 0) & (problem == 0), dtype=types.INT32)
    problem = dmath.max(problem, empty * int(Check.EMPTY))
    rows = None
    if layout != "HWC":  # pasted through the rows view
        too_many = fn.cast(chw * channels > _MAX_CHW_CHANNELS, dtype=types.INT32) * int(Check.CHANNELS)
        problem = dmath.max(problem, too_many)
        # (R, L, 1): for HWC (H, W * C, 1), for CHW (C * H, W, 1)
        rows = fn.cat(hw * fn.stack(chw * channels + (1 - chw), chw + (1 - chw) * channels),
                      types.Constant(np.ones(1), dtype=types.INT32, device="cpu"))
    return _Geometry(shape, fn.cast(hw, dtype=types.FLOAT64), rows, layout, chw, channels, problem)


def _smoothed_targets(labels: DataNode, config: MixConfig) -> tuple[DataNode, DataNode]:
    """float32 (C,) smoothed targets per sample (CPU), from class ids (scalar or (1,)) or
    from soft vectors of length C, and an int32 ``Check`` code (0 where fine)."""
    classes = config.num_classes
    flat = fn.reshape(labels, shape=[-1])
    length = flat.shape(dtype=types.INT32, device="cpu")[0]
    # A soft label as it is; a class id padded with zeros, its first element the id.
    soft = fn.slice(fn.cast(flat, dtype=types.FLOAT), start=[0], shape=[classes], axes=[0],
                    out_of_bounds_policy="pad")
    first = soft[0]
    is_id = length == 1
    one_hot = fn.one_hot(fn.cast(dmath.clamp(first, 0, classes - 1), dtype=types.INT32),
                         num_classes=classes)
    targets = soft + fn.cast(is_id, dtype=types.FLOAT) * (one_hot - soft)  # exact either way
    if config.label_smoothing > 0:
        targets = targets * (1.0 - config.label_smoothing) + config.off_value
    # Rounded half away from zero (as the cast above) into [0, classes); NaN fails too.
    bad_id = fn.cast(is_id & ~((first > -0.5) & (first < classes - 0.5)), dtype=types.INT32)
    bad_length = fn.cast(~is_id & (length != classes), dtype=types.INT32)
    problem = dmath.max(bad_id * int(Check.LABEL_RANGE),
                         bad_length * int(Check.SOFT_LABEL_LENGTH))
    return targets, problem


def _cast(images: DataNode, dtype: types.DALIDataType) -> DataNode:
    """float32 images as ``dtype``; to uint8 rounded half to even, as timm's
    ``FastCollateMixup`` (``np.rint``), where DALI's cast rounds half away from zero."""
    if dtype == types.UINT8:
        images = (images + _ROUNDING) - _ROUNDING
    return fn.cast(images, dtype=dtype)


def _box_regions(box: DataNode, g: _Geometry) -> tuple[DataNode, DataNode]:
    """Anchors and shapes (int32 (regions, 2) per sample) of what ``fn.multi_paste`` copies:
    the whole own image, then the partner's box. HWC images are pasted as they are; others
    through the rows view, the box once per plane (C planes of height H for CHW; for a
    layout read at run time, one plane of width W * C for HWC; unused regions empty)."""
    if g.layout == "HWC":
        return (fn.cat(fn.reshape(box[0:2] * 0, shape=[1, 2]), fn.reshape(box[0:2], shape=[1, 2])),
                fn.cat(fn.reshape(g.shape[0:2], shape=[1, 2]), fn.reshape(box[2:4], shape=[1, 2])))
    whole = fn.reshape(g.rows[0:2], shape=[1, 2])
    plane = types.Constant(np.arange(_MAX_CHW_CHANNELS), dtype=types.INT32, device="cpu")
    used = fn.cast((plane < g.channels) if g.layout == "CHW" else
                   (g.chw * (plane < g.channels)) | ((1 - g.chw) * (plane == 0)),
                   dtype=types.INT32)
    scale = g.chw + (1 - g.chw) * g.channels
    height = g.rows[0] / (g.chw * (g.channels - 1) + 1)  # H for either layout
    box_anchor = fn.stack(used * (g.chw * plane * fn.cast(height, dtype=types.INT32) + box[0]),
                          used * box[1] * scale, axis=1)
    box_shape = fn.stack(used * box[2], used * box[3] * scale, axis=1)
    return fn.cat(whole * 0, box_anchor), fn.cat(whole, box_shape)


def _as_pasted(images: DataNode, g: _Geometry) -> DataNode:
    """The view ``fn.multi_paste`` (HWC only) works in: HWC images as they are, others as
    one-channel rows."""
    return images if g.layout == "HWC" else fn.reshape(images, shape=g.rows, layout="HWC")


def _from_pasted(pasted: DataNode, g: _Geometry) -> DataNode:
    return pasted if g.layout == "HWC" else fn.reshape(pasted, shape=g.shape, layout=g.layout or "")


def _regions(g: _Geometry) -> int:
    return 2 if g.layout == "HWC" else 1 + _MAX_CHW_CHANNELS


def _paste_boxes(images: DataNode, d: Draw, g: _Geometry, token: DataNode,
                 dtype: types.DALIDataType | None) -> DataNode:
    """Each image with its partner's CutMix box pasted in: one copy of the batch."""
    anchors, shapes = _box_regions(d.params.box, g)
    ids = fn.stack(d.index, *[d.gather] * (_regions(g) - 1)) + fn.cast(token, dtype=types.INT32)
    pasted = fn.multi_paste(_as_pasted(images, g), in_ids=ids, in_anchors=anchors, shapes=shapes,
                            out_anchors=anchors, dtype=dtype)
    return _from_pasted(pasted, g)


def _cut_or_blend(images: DataNode, d: Draw, g: _Geometry, token: DataNode,
                  dtype: types.DALIDataType) -> DataNode:
    """Only the work the batch's kind needs: the partner's box pasted in, or the blend.

    Runs under DALI's conditionals, which split the batch between the branches by sample;
    the partner batch is gathered before the split, since indices into the batch mean
    nothing inside a branch.
    """
    partner = fn.permute_batch(images, indices=d.gather)
    anchors, shapes = _box_regions(d.params.box + fn.cast(token, dtype=types.INT32), g)
    if fn.cast(d.params.cutmix, dtype=types.BOOL):
        # Without in_ids, region k comes from input k: the own image, then the partner's.
        pasted = fn.multi_paste(_as_pasted(images, g), *[_as_pasted(partner, g)] * (_regions(g) - 1),
                                in_anchors=anchors, shapes=shapes, out_anchors=anchors, dtype=dtype)
        out = _from_pasted(pasted, g)
    else:
        weight = d.weight + token
        out = images * weight + partner * (1.0 - weight)
        if dtype != types.FLOAT:
            out = _cast(out, dtype)
    return out


def _mix_images(images: DataNode, config: MixConfig, d: Draw, g: _Geometry, token: DataNode,
                dtype: types.DALIDataType) -> DataNode:
    """CutMix by pasting boxes, then Mixup by ``x * w + x_partner * (1 - w)`` where ``w``
    is Mixup's lam, or 1 where the sample is cut or not mixed (exact: x * 1 + y * 0 == x).
    ``token``: the checks' float32 0, added where the work starts."""
    if dtype == types.FLOAT16:
        # DALI's CPU arithmetic and its paste take no float16: work in float32.
        images = fn.cast(images, dtype=types.FLOAT)
    # float16 output is cast from float32 at the end; the others come out of the last pass.
    work = types.FLOAT if dtype == types.FLOAT16 else dtype
    both = config.uses_cutmix and config.uses_mixup
    if config.uses_cutmix and not config.uses_mixup and g.layout is not None:
        # CutMix alone needs no arithmetic: the paste also converts the type.
        out = _paste_boxes(images, d, g, token, work)
    elif both and g.layout is not None and config.mode is Mode.BATCH and conditionals_enabled():
        # A whole batch takes one branch; split per sample or pair, both halves would pay
        # each branch's fixed cost, which measured slower than running both on all.
        out = _cut_or_blend(images, d, g, token, work)
    else:
        own = _paste_boxes(images, d, g, token, None) if config.uses_cutmix else images
        weight = d.weight + token
        # The arithmetic takes its layout from the partner batch, the input's own.
        out = own * weight + fn.permute_batch(images, indices=d.gather) * (1.0 - weight)
        if work != types.FLOAT:
            out = _cast(out, work)
    return fn.cast(out, dtype=dtype) if dtype == types.FLOAT16 else out


def mix_composed(images: DataNode, labels: DataNode, config: MixConfig, *, prob: Prob,
                 seed: int | None, layout: Layout | None, dtype: types.DALIDataType,
                 normalize: Normalize | None, samples: DataNode | None,
                 batch_size: int) -> tuple[DataNode, DataNode, MixParams]:
    """``mix`` for any images through DALI's own operators: images on their device, targets
    and parameters on the CPU."""
    if layout is not None:
        images = fn.reshape(images, layout=layout)
    geometry = _image_geometry(images, layout, batch_size)
    targets, label_problem = _smoothed_targets(labels, config)
    d = draw(config, batch_size=batch_size, size=geometry.size, prob=prob, seed=seed,
             samples=samples)
    problem = dmath.max(geometry.problem, label_problem)
    if normalize is not None:
        wrong = fn.cast(geometry.channels != len(normalize.mean), dtype=types.INT32)
        problem = dmath.max(problem, wrong * int(Check.NORMALIZE_CHANNELS))
    # Adding the checks' zero token orders them before the work they protect.
    token = guard(problem, num_classes=config.num_classes)
    if normalize is None:
        images = _mix_images(images, config, d, geometry, token, dtype)
    else:
        images = fn.crop_mirror_normalize(
            _mix_images(images, config, d, geometry, token, types.FLOAT), dtype=dtype,
            **normalize.arguments)
    lam = d.params.lam + token
    targets = targets * lam + fn.permute_batch(targets, indices=d.gather) * (1.0 - lam)
    return images, targets, d.params

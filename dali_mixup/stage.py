"""The mixing stage: Mixup and CutMix applied to a batch inside a DALI graph.

CutMix pastes the partner's box into each image; Mixup blends ``x * w + x_partner * (1 - w)``
with ``w`` Mixup's lam, or 1 where the sample is cut or not mixed. Random draws come from
DALI's seeded operators (``params.py``). CPU images go through one operator of ours
(``csrc/mix_op.cc``) that computes parameters, targets and pixels in one pass; GPU
images (or CPU ones where that operator cannot be built) through DALI's own operators:
parameters by DALI arithmetic on the CPU, CutMix by ``fn.multi_paste``, Mixup by
arithmetic on the images' device.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from nvidia.dali import fn, types
from nvidia.dali import math as dmath
from nvidia.dali.data_node import DataNode
from nvidia.dali.pipeline import Pipeline

from . import native
from .config import Layout, MixConfig, Mode, Normalize
from .errors import Check, guard
from .params import Draw, MixParams, Prob, draw, random_inputs

try:  # DALI's own test for `if` on DataNodes; private, so a DALI without it just never branches
    from nvidia.dali._conditionals import conditionals_enabled
except ImportError:
    def conditionals_enabled() -> bool:
        return False

_DTYPES = (types.FLOAT, types.FLOAT16, types.UINT8)
_MAX_CHW_CHANNELS = 4  # CutMix pastes the box once per plane of a CHW image
_LAYOUT_CODES = {name: (ord(name[0]) << 16) | (ord(name[1]) << 8) | ord(name[2]) for name in ("HWC", "CHW")}


def _current_batch_size() -> int:
    pipe = Pipeline.current()
    if pipe is None:
        raise RuntimeError("mix: call it while defining a DALI pipeline (inside @pipeline_def or "
                           "a `with pipe:` block), not outside one")
    return pipe.max_batch_size


def _validate_call(labels: object, config: object, prob: object, seed: object, layout: object,
                   dtype: object, normalize: object) -> None:
    if not isinstance(config, MixConfig):
        raise TypeError(f"mix: config: expected a MixConfig, got {type(config).__name__}")
    if isinstance(labels, DataNode) and labels.device != "cpu":
        raise ValueError("mix: labels: expected a CPU DataNode (as DALI's readers give them), "
                         "got a GPU one")
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
        raise ValueError(f"mix: dtype: expected types.FLOAT, types.FLOAT16 or types.UINT8, "
                         f"got {dtype!r}")
    if normalize is not None:
        if not isinstance(normalize, Normalize):
            raise TypeError(f"mix: normalize: expected None or a Normalize, got {type(normalize).__name__}")
        if dtype == types.UINT8:
            raise ValueError("mix: dtype: expected types.FLOAT or types.FLOAT16 with normalize, "
                             "got types.UINT8")


def _first3(vector: DataNode, dtype: types.DALIDataType) -> DataNode:
    """The first three elements of a 1-D vector, zero-padded: reading them can never fail."""
    padded = fn.cat(vector, types.Constant(np.zeros(3), dtype=dtype, device="cpu"))
    return fn.cast(padded[0:3], dtype=types.INT32)


@dataclass(frozen=True)
class _Geometry:
    """Per-sample image geometry, CPU DataNodes.

    ``shape``: int32 (3,). ``size``: float32 (2,) (H, W).
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
    return _Geometry(shape, fn.cast(hw, dtype=types.FLOAT), rows, layout, chw, channels, problem)


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
            out = fn.cast(out, dtype=dtype)
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
            out = fn.cast(out, dtype=work)
    return fn.cast(out, dtype=dtype) if dtype == types.FLOAT16 else out


def _mix_fused(images: DataNode, labels: DataNode, config: MixConfig, prob: Prob, seed: int | None,
               layout: Layout | None, dtype: types.DALIDataType,
               normalize: Normalize | None) -> tuple[DataNode, DataNode, MixParams]:
    """CPU images through the stage's one-pass operator (``csrc/mix_op.cc``)."""
    r = random_inputs(config, seed)
    extra = [d for d in (r.permutation, r.beta_mixup, r.beta_cutmix) if d is not None]
    if isinstance(prob, DataNode):  # the operator's argument input takes float32 only
        prob = fn.cast(prob, dtype=types.FLOAT)
    options = normalize.arguments if normalize is not None else {}
    out, targets, lam, partner, cut, box = fn.dali_mixup_mix(
        images, labels, r.uniform, *extra, prob=prob, num_classes=config.num_classes,
        mode=list(Mode).index(config.mode), mixup=config.uses_mixup, cutmix=config.uses_cutmix,
        switch_prob=config.switch_prob, correct_lam=config.correct_lam,
        label_smoothing=config.label_smoothing, minmax=list(config.cutmix_minmax or []),
        layout=layout or "", dtype=dtype, **options)
    return out, targets, MixParams(lam=lam, partner=partner, cutmix=cut, box=box)


def _mix_composed(images: DataNode, labels: DataNode, config: MixConfig, prob: Prob,
                  seed: int | None, layout: Layout | None, dtype: types.DALIDataType,
                  normalize: Normalize | None, batch_size: int) -> tuple[DataNode, DataNode, MixParams]:
    """Any images through DALI's own operators; parameters and checks on the CPU."""
    if layout is not None:
        images = fn.reshape(images, layout=layout)
    geometry = _image_geometry(images, layout, batch_size)
    targets, label_problem = _smoothed_targets(labels, config)
    d = draw(config, batch_size=batch_size, size=geometry.size, prob=prob, seed=seed)
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


def mix(images: DataNode, labels: DataNode, config: MixConfig, *, prob: Prob | None = None,
        seed: int | None = None, layout: Layout | None = None,
        dtype: types.DALIDataType = types.FLOAT, normalize: Normalize | None = None,
        return_params: bool = False):
    """Mix a batch with Mixup and/or CutMix as ``config`` says; call it in a pipeline definition.

    ``images``: CPU or GPU DataNode, one shape for the whole batch, layout HWC or CHW (from
    the DataNode, or ``layout``), dtype uint8, float16 or float32.
    ``labels``: CPU DataNode of integer class ids (scalar or shape (1,)) or soft/one-hot
    float vectors of length ``config.num_classes``; a label of one element is always a class
    id (a float one is rounded).
    ``prob``: overrides ``config.prob``; a CPU DataNode (float32 scalar per sample, e.g. an
    ``fn.external_source``) changes it between iterations without rebuilding the pipeline.
    ``seed``: seeds of the stage's random operators (default: derived from the pipeline's).
    ``normalize``: a ``Normalize`` applied to the mixed images (its layout is the output's);
    on the CPU in the same pass, so a pipeline needs no ``fn.crop_mirror_normalize``.
    Returns ``(images, targets)`` on the images' device: images of ``dtype`` (float32,
    float16, or uint8 with Mixup rounded) with the input's shape and layout (or
    ``normalize.layout``); targets float32 (num_classes,) per sample,
    ``lam * smooth(y) + (1 - lam) * smooth(y_partner)``. With ``return_params`` also a
    ``MixParams`` of per-sample CPU DataNodes.
    Bad batches (layout, ragged shapes, labels) stop the pipeline; wrap its runs in
    ``translate_errors()`` to get a ``MixInputError`` that says what was wrong.
    """
    _validate_call(labels, config, prob, seed, layout, dtype, normalize)
    batch_size = _current_batch_size()
    prob = config.prob if prob is None else prob
    if images.device == "cpu" and native.available():
        images, targets, params = _mix_fused(images, labels, config, prob, seed, layout, dtype,
                                             normalize)
    else:
        images, targets, params = _mix_composed(images, labels, config, prob, seed, layout, dtype,
                                                normalize, batch_size)
    if images.device == "gpu":
        targets = targets.gpu()
    return (images, targets, params) if return_params else (images, targets)


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

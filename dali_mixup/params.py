"""Drawing the mixing parameters of a batch: lam, partner, CutMix box (one step),
separate from applying them to images and labels (``stage.py``).

Everything here runs on the CPU (``fn.random.beta`` and ``fn.batch_permutation`` have no
GPU backend) and works on scalars or tiny vectors per sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from nvidia.dali import fn, types
from nvidia.dali import math as dmath
from nvidia.dali.data_node import DataNode

from .config import MixConfig, Mode

Prob = float | DataNode


@dataclass(frozen=True)
class MixParams:
    """The per-sample parameters of one batch: CPU DataNodes, one value per sample.

    ``lam``: float32 scalar, the weight of the sample's own label in its target (after any
    CutMix area correction); 1 where nothing was mixed in.
    ``partner``: int32 scalar, index in the batch of the sample mixed in; the sample's own
    index where nothing was mixed in.
    ``cutmix``: int32 scalar, 1 where CutMix was applied, 0 for Mixup or no mixing.
    ``box``: int32 (4,), the pasted box (top, left, height, width) in pixels; zero size
    where CutMix was not applied.
    """

    lam: DataNode
    partner: DataNode
    cutmix: DataNode
    box: DataNode


@dataclass(frozen=True)
class Draw:
    """What applying needs: ``MixParams`` plus the partner gather indices and pixel weights.

    ``gather``: the partner of each sample, as ``fn.permute_batch`` indices (list or DataNode).
    ``weight``: float32 scalar, weight of the own image outside the box (Mixup's lam, else 1).
    ``box_anchor``/``box_shape``: float32 (2,), the box in (H, W) pixels, for ``fn.erase``.
    """

    params: MixParams | None
    gather: list[int] | DataNode
    lam: DataNode
    weight: DataNode
    box_anchor: DataNode
    box_shape: DataNode


class _Seeds:
    """Seed arguments for the random operators: consecutive from ``seed``, or none at all so
    that DALI derives each from the pipeline's seed (an explicit -1 would give every
    operator the same one)."""

    def __init__(self, seed: int | None) -> None:
        self._next = seed

    def __call__(self) -> dict[str, int]:
        if self._next is None:
            return {}
        self._next += 1
        return {"seed": self._next - 1}


class _SampleIndex:
    """External source giving each sample its index in the batch (DALI has no such op)."""

    def __init__(self, batch_size: int) -> None:
        self._batch = [np.array(i, dtype=np.int32) for i in range(batch_size)]

    def __call__(self) -> list[np.ndarray]:
        return self._batch


def _share(values: DataNode, mode: Mode, batch_size: int) -> DataNode:
    """Make the draws shared per batch (sample 0's) or per pair (sample min(i, B-1-i)'s)."""
    if mode is Mode.ELEM:
        return values
    if mode is Mode.BATCH:
        return fn.permute_batch(values, indices=[0] * batch_size)
    return fn.permute_batch(values, indices=[min(i, batch_size - 1 - i) for i in range(batch_size)])


def _floor_int(x: DataNode) -> DataNode:
    return fn.cast(dmath.floor(x), dtype=types.INT32)


def _box(config: MixConfig, draws: list[DataNode], lam_cut: DataNode | None,
         height: DataNode, width: DataNode) -> tuple[DataNode, DataNode, DataNode, DataNode]:
    """timm's CutMix box (top, left, box height, box width) as int32 scalars per sample."""
    if config.cutmix_minmax is not None:
        lo, hi = config.cutmix_minmax
        u_h, u_w, u_y, u_x = draws
        sizes = []
        for u, extent in ((u_h, height), (u_w, width)):
            low = _floor_int(extent * lo)
            high = _floor_int(extent * hi)
            sizes.append(low + _floor_int(u * (high - low)))
        cut_h, cut_w = sizes
        top = _floor_int(u_y * (height - cut_h))
        left = _floor_int(u_x * (width - cut_w))
        return top, left, cut_h, cut_w
    u_y, u_x = draws
    ratio = dmath.sqrt(1.0 - lam_cut)
    half_h = _floor_int(_floor_int(height * ratio) / 2)
    half_w = _floor_int(_floor_int(width * ratio) / 2)
    centre_y = _floor_int(u_y * height)
    centre_x = _floor_int(u_x * width)
    top = dmath.clamp(centre_y - half_h, 0, height)
    left = dmath.clamp(centre_x - half_w, 0, width)
    bottom = dmath.clamp(centre_y + half_h, 0, height)
    right = dmath.clamp(centre_x + half_w, 0, width)
    return top, left, bottom - top, right - left


def draw(config: MixConfig, *, batch_size: int, height: DataNode, width: DataNode,
         prob: Prob, seed: int | None, with_params: bool) -> Draw:
    """Draw one batch's parameters.

    ``height``/``width``: int32 scalars per sample (CPU), the images' spatial size.
    ``prob``: the chance of mixing, constant or a float32 scalar per sample (CPU).
    Partners: a random derangement (``fn.batch_permutation(no_fixed_points=True)``) in
    batch and elem modes; i and B-1-i in pair mode (the middle sample of an odd batch mixes
    with nothing). A batch of one mixes with nothing.
    """
    seeds = _Seeds(seed)
    uniform = lambda: fn.random.uniform(range=[0.0, 1.0], **seeds())  # noqa: E731
    raw = {"apply": uniform()}
    if config.mixup_enabled and config.cutmix_enabled:
        raw["switch"] = uniform()
    if config.mixup_enabled:
        raw["lam_mix"] = fn.random.beta(alpha=config.mixup_alpha, beta=config.mixup_alpha,
                                        **seeds())
    if config.cutmix_enabled:
        if config.cutmix_minmax is None:
            raw["lam_cut"] = fn.random.beta(alpha=config.cutmix_alpha, beta=config.cutmix_alpha,
                                            **seeds())
            box_keys = ["u_y", "u_x"]
        else:
            box_keys = ["u_h", "u_w", "u_y", "u_x"]
        for key in box_keys:
            raw[key] = uniform()
    keys = list(raw)
    shared = _share(fn.stack(*raw.values()), config.mode, batch_size)
    d = {key: shared[i] for i, key in enumerate(keys)}

    need_index = with_params or (config.mode is Mode.PAIR and batch_size % 2 == 1)
    index = fn.external_source(source=_SampleIndex(batch_size), batch=True,
                               dtype=types.INT32, ndim=0) if need_index else None
    mixed = d["apply"] < prob
    if config.mode is Mode.PAIR:
        gather: list[int] | DataNode = [batch_size - 1 - i for i in range(batch_size)]
        partner = batch_size - 1 - index if index is not None else None
        if batch_size % 2 == 1:  # the middle sample of an odd batch is its own pair
            mixed = mixed & (index != batch_size // 2)
    else:
        gather = fn.batch_permutation(no_fixed_points=True, **seeds())
        partner = gather
        if batch_size == 1:  # no other sample to mix in
            mixed = d["apply"] < 0.0
    mixed = fn.cast(mixed, dtype=types.FLOAT)

    if "switch" in d:
        use_cut = fn.cast(d["switch"] < config.switch_prob, dtype=types.FLOAT)
    else:
        use_cut = 1.0 if config.cutmix_enabled else 0.0
    cut = mixed * use_cut
    mix_weight = mixed * (1.0 - use_cut)

    zero = mixed * 0.0
    if config.cutmix_enabled:
        top, left, box_h, box_w = _box(config, [d[k] for k in box_keys], d.get("lam_cut"),
                                       height, width)
        box_h, box_w = fn.cast(box_h * cut, dtype=types.INT32), fn.cast(box_w * cut, dtype=types.INT32)
        area = fn.cast(box_h * box_w, dtype=types.FLOAT) / fn.cast(height * width, dtype=types.FLOAT)
        if config.correct_lam or config.cutmix_minmax is not None:
            lam_cut = 1.0 - area
        else:
            lam_cut = d["lam_cut"]
        box_anchor = fn.cast(fn.stack(top, left), dtype=types.FLOAT)
        box_shape = fn.cast(fn.stack(box_h, box_w), dtype=types.FLOAT)
    else:
        top = left = box_h = box_w = fn.cast(zero, dtype=types.INT32)
        lam_cut = 1.0
        box_anchor = box_shape = fn.stack(zero, zero)
    lam_mix = d.get("lam_mix", 1.0)

    # Selections as exact products: 1 * a + 0 * b == a for finite a, b.
    weight = mix_weight * lam_mix + (1.0 - mix_weight)
    lam = cut * lam_cut + mix_weight * lam_mix + (1.0 - mixed)

    params = None
    if with_params:
        partner_or_own = fn.cast(mixed * partner + (1.0 - mixed) * index, dtype=types.INT32)
        params = MixParams(
            lam=lam,
            partner=partner_or_own,
            cutmix=fn.cast(cut, dtype=types.INT32),
            box=fn.cast(fn.stack(top, left, box_h, box_w), dtype=types.INT32),
        )
    return Draw(params=params, gather=gather, lam=lam, weight=weight,
                box_anchor=box_anchor, box_shape=box_shape)

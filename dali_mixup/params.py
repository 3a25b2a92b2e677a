"""Drawing the mixing parameters of a batch: lam, partner, CutMix box (one step),
separate from applying them to images and labels (``composed.py``).

Everything here runs on the CPU (``fn.random.beta`` and ``fn.batch_permutation`` have no
GPU backend) on scalars or 2-vectors per sample. Every DALI operator costs a fixed time
per batch whatever its size, so the arithmetic works on (H, W) pairs at once. The stage's
own operator computes the same values from the same draws (``random_inputs``).
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
    """The per-sample parameters of one batch: DataNodes, one value per sample, on the GPU
    where the stage's operator mixes GPU images, else on the CPU.

    ``lam``: float32 scalar, the weight of the sample's own label in its target (after any
    CutMix area correction); 1 where nothing was mixed in.
    ``partner``: int32 scalar, index in the batch of the sample mixed in; the sample's own
    index where nothing was mixed in.
    ``cutmix``: int32 scalar, 1 where CutMix was applied, 0 for Mixup or no mixing.
    ``box``: int32 (4,), the pasted box (top, left, height, width) in pixels; all zeros
    where CutMix was not applied.
    """

    lam: DataNode
    partner: DataNode
    cutmix: DataNode
    box: DataNode


@dataclass(frozen=True)
class Draw:
    """What applying needs, all CPU DataNodes with one value per sample.

    ``params``: the public ``MixParams``.
    ``index``: int32 scalar, the sample's own index in the batch.
    ``gather``: int32 scalar, the partner whose pixels are mixed in (for ``fn.permute_batch``
    and ``fn.multi_paste``; may be another sample even where nothing is mixed in).
    ``weight``: float32 scalar, weight of the own image outside the box (Mixup's lam, else 1).
    """

    params: MixParams
    index: DataNode
    gather: DataNode
    weight: DataNode


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
    """External source giving each sample its index in the batch (DALI has no such op).
    It takes the batch info only so that DALI knows it is stateless across checkpoints."""

    def __init__(self, batch_size: int) -> None:
        self._batch = np.arange(batch_size, dtype=np.int32)

    def __call__(self, info: types.BatchInfo) -> np.ndarray:
        return self._batch


@dataclass(frozen=True)
class UniformLayout:
    """Where each draw sits in a sample's uniform vector: [apply, switch (with Mixup and
    CutMix), box draws (2: the centre; 4 with minmax: the sides, then the position),
    fallback (batch and elem modes: the partner of a sample whose drawn partner is padding)]."""

    switch: bool
    box_draws: int
    fallback: bool

    @classmethod
    def of(cls, config: MixConfig) -> UniformLayout:
        box_draws = (4 if config.cutmix_minmax is not None else 2) if config.uses_cutmix else 0
        return cls(switch=config.uses_mixup and config.uses_cutmix, box_draws=box_draws,
                   fallback=config.mode is not Mode.PAIR)

    @property
    def box(self) -> int:
        """Index of the first box draw."""
        return 1 + self.switch

    @property
    def size(self) -> int:
        return self.box + self.box_draws + self.fallback


@dataclass(frozen=True)
class RandomInputs:
    """One batch's random draws, from DALI's seeded operators (CPU, one per sample).

    ``uniform``: float32 (``UniformLayout.size``,), laid out as ``UniformLayout`` says.
    ``permutation``: int32 scalar, a derangement of the batch (None in pair mode).
    ``beta_mixup``/``beta_cutmix``: float32 (1,), Beta(alpha, alpha) (None where unused:
    no Mixup; no CutMix, or CutMix from minmax).
    """

    uniform: DataNode
    permutation: DataNode | None
    beta_mixup: DataNode | None
    beta_cutmix: DataNode | None


def random_inputs(config: MixConfig, seed: int | None) -> RandomInputs:
    """Define the random operators one batch's parameters are computed from."""
    seeds = _Seeds(seed)
    uniform = fn.random.uniform(range=[0.0, 1.0], shape=[UniformLayout.of(config).size], **seeds())
    beta_mixup = beta_cutmix = None
    if config.uses_mixup:
        beta_mixup = fn.random.beta(alpha=config.mixup_alpha, beta=config.mixup_alpha,
                                    shape=[1], **seeds())
    if config.uses_cutmix and config.cutmix_minmax is None:
        beta_cutmix = fn.random.beta(alpha=config.cutmix_alpha, beta=config.cutmix_alpha,
                                     shape=[1], **seeds())
    permutation = (None if config.mode is Mode.PAIR
                   else fn.batch_permutation(no_fixed_points=True, **seeds()))
    return RandomInputs(uniform, permutation, beta_mixup, beta_cutmix)


def _times(values: DataNode, factor: float) -> DataNode:
    """float64 ``values * factor``, rounded once as in double. DALI holds a Python float
    constant as float32, so ``factor`` enters as the exact sum of three float32 parts (24
    bits each: all 53 of a double; only a factor below about 1e-30, whose products with
    image sides are below 1, loses bits)."""
    parts = []
    rest = float(factor)
    for _ in range(3):
        parts.append(float(np.float32(rest)))
        rest -= parts[-1]
    exact = values * 0.0
    for part in parts:  # each sum exact: the parts do not overlap
        exact = exact + part
    return values * exact


def _box(config: MixConfig, v: DataNode, lam_cut: DataNode | None,
         size: DataNode) -> tuple[DataNode, DataNode]:
    """timm's CutMix box (``rand_bbox``, ``rand_bbox_minmax``) as float64 (2,) vectors
    (top, left) and (height, width), in pixels, computed in double as timm does; its
    ``randint(lo, hi)`` is ``lo + floor(v * (hi - lo))`` here.

    ``v``: float32 uniform draws, 2 (box centre) or 4 (minmax: sides, then position).
    ``lam_cut``: float32 (1,) CutMix's Beta draw (None with minmax).
    ``size``: float64 (2,) image (H, W).
    """
    v = fn.cast(v, dtype=types.FLOAT64)
    if config.cutmix_minmax is not None:
        lo, hi = config.cutmix_minmax
        low = dmath.floor(_times(size, lo))
        sides = low + dmath.floor(v[0:2] * (dmath.floor(_times(size, hi)) - low))
        return dmath.floor(v[2:4] * (size - sides + 1.0)), sides
    # cut = int(S * sqrt(1 - lam)) around a uniform centre: cut // 2 before it, (cut + 1) // 2
    # from it on, clipped to the image.
    cut = dmath.floor(size * dmath.sqrt(1.0 - fn.cast(lam_cut, dtype=types.FLOAT64)))
    centre = dmath.floor(v * size)
    top_left = dmath.clamp(centre - dmath.floor(cut * 0.5), 0.0, size)
    return top_left, dmath.clamp(centre + dmath.floor((cut + 1.0) * 0.5), 0.0, size) - top_left


def _real_count(samples: DataNode, batch_size: int) -> DataNode:
    """R, int32 scalar: ``samples`` where in [0, batch_size), else the whole batch."""
    samples = fn.cast(samples, dtype=types.INT32)
    inside = fn.cast((samples >= 0) & (samples < batch_size), dtype=types.INT32)
    return batch_size + inside * (samples - batch_size)


def _select(condition: DataNode, a: DataNode, b: DataNode) -> DataNode:
    """``a`` where ``condition`` (bool or 0/1 int32 scalar), else ``b``: int32, exact."""
    return b + fn.cast(condition, dtype=types.INT32) * (a - b)


def _shared(values: DataNode, mode: Mode, batch_size: int, index: DataNode,
            real: DataNode | None) -> DataNode:
    """The draws shared per batch (sample 0's) or per pair (sample min(i, R-1-i)'s for the
    R real samples, a padded sample's own); per sample in elem mode."""
    if mode is Mode.ELEM:
        return values
    if mode is Mode.BATCH:
        return fn.permute_batch(values, indices=[0] * batch_size)
    if real is None:
        return fn.permute_batch(values, indices=[min(i, batch_size - 1 - i) for i in range(batch_size)])
    return fn.permute_batch(values, indices=_select(index < real, dmath.min(index, real - 1 - index), index))


def _partners(config: MixConfig, r: RandomInputs, index: DataNode, real: DataNode | None,
              batch_size: int) -> DataNode:
    """int32 scalar: the partner of each real sample, among the real samples; a padded
    sample's own index. Pair mode: R-1-i. Batch and elem modes: the derangement's, or, where
    that is padding, (i + 1 + min(floor(f * (R - 1)), R - 2)) mod R with f the sample's own
    fallback draw (float32 product): one of the other R - 1 real samples."""
    if config.mode is Mode.PAIR:
        if real is None:
            return batch_size - 1 - index
        return _select(index < real, real - 1 - index, index)
    if real is None:  # a derangement of the whole batch: every partner is real
        return r.permutation
    f = r.uniform[UniformLayout.of(config).size - 1]
    # float32 rounding can take f * (R - 1) up to R - 1 itself: at most R - 2 keeps it off i.
    step = dmath.min(fn.cast(dmath.floor(f * fn.cast(real - 1, dtype=types.FLOAT)), dtype=types.INT32),
                     real - 2)
    ahead = index + 1 + step  # < 2R: one subtraction makes it mod R
    fallback = ahead - real * fn.cast(ahead >= real, dtype=types.INT32)
    return _select(index < real, _select(r.permutation >= real, fallback, r.permutation), index)


def _mixed(config: MixConfig, apply: DataNode, prob: Prob, index: DataNode,
           real: DataNode | None, batch_size: int) -> DataNode:
    """Whether each sample is mixed (bool): its apply draw below ``prob``, it and some
    other real sample real, and it not the middle sample of an odd pair-mode batch."""
    mixed = apply < prob
    if real is None:
        if batch_size == 1:  # no other sample to mix in
            return apply < 0.0
        if config.mode is Mode.PAIR and batch_size % 2 == 1:  # the middle sample pairs itself
            return mixed & (index != batch_size // 2)
        return mixed
    mixed = mixed & (index < real) & (real != 1)
    if config.mode is Mode.PAIR:
        mixed = mixed & ~(((real & 1) == 1) & (index == real // 2))
    return mixed


def draw(config: MixConfig, *, batch_size: int, size: DataNode, prob: Prob,
         seed: int | None, samples: DataNode | None = None) -> Draw:
    """Draw one batch's parameters.

    ``size``: float64 (2,) per sample (CPU), the images' (H, W).
    ``prob``: the chance of mixing, constant or a float32 scalar per sample (CPU).
    ``samples``: int32 scalar per sample (CPU), the count R of real samples at the start of
    the batch (the rest: DALI's padding of a reader's last batch); None, or a value outside
    [0, batch_size): all real. Padded samples are not mixed, and real ones mix only with
    real ones.
    Partners: a random derangement (``fn.batch_permutation(no_fixed_points=True)``) in
    batch and elem modes; i and R-1-i in pair mode (the middle sample of an odd count mixes
    with nothing). A single real sample mixes with nothing.
    """
    r = random_inputs(config, seed)
    layout = UniformLayout.of(config)
    index = fn.external_source(source=_SampleIndex(batch_size), batch=True, batch_info=True,
                               dtype=types.INT32, ndim=0)
    real = None if samples is None else _real_count(samples, batch_size)
    draws = [d for d in (r.uniform, r.beta_mixup, r.beta_cutmix) if d is not None]
    raw = _shared(fn.cat(*draws) if len(draws) > 1 else draws[0], config.mode, batch_size,
                  index, real)
    at = layout.size  # where the Betas start in ``raw``

    gather = _partners(config, r, index, real, batch_size)
    is_mixed = _mixed(config, raw[0], prob, index, real, batch_size)
    mixed = fn.cast(is_mixed, dtype=types.FLOAT)
    if layout.switch:
        cut = mixed * fn.cast(raw[1] < config.switch_prob, dtype=types.FLOAT)
        mixup = mixed - cut
    elif config.uses_cutmix:
        cut, mixup = mixed, 0.0
    else:
        cut, mixup = 0.0, mixed
    # Selections as exact products: 1 * a + 0 * b == a for finite a, b.
    weight = mixup * raw[at] + (1.0 - mixup) if config.uses_mixup else 1.0 + mixed * 0.0
    lam = weight
    if config.uses_cutmix:
        lam_cut = raw[at + config.uses_mixup] if config.cutmix_minmax is None else None
        top_left, sides = _box(config, raw[layout.box:layout.box + layout.box_draws], lam_cut, size)
        cut64 = fn.cast(cut, dtype=types.FLOAT64)
        top_left, sides = top_left * cut64, sides * cut64
        if config.correct_lam or config.cutmix_minmax is not None:
            cut_lam = fn.cast(1.0 - sides[0] * sides[1] / (size[0] * size[1]), dtype=types.FLOAT)
        else:
            cut_lam = lam_cut
        lam = cut * cut_lam + (1.0 - cut) * weight
        box = fn.cast(fn.cat(top_left, sides), dtype=types.INT32)
    else:
        box = fn.cast(fn.stack(*[mixed * 0.0] * 4), dtype=types.INT32)
    partner = _select(is_mixed, gather, index)
    cutmix = fn.cast(cut if config.uses_cutmix else mixed * 0.0, dtype=types.INT32)
    params = MixParams(lam=lam, partner=partner, cutmix=cutmix, box=box)
    return Draw(params=params, index=index, gather=gather, weight=weight)
